-- wrk script: POST the same conversation to agentfcgi's /v1/chat/completions (bench/run.sh), next to /runs/wait.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"echo-fast","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
