-- wrk script: POST the same run body to every target's /runs/wait (bench/run.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"assistant_id":"echo-fast","input":{"messages":[{"role":"user","content":"Hello there, how are you today?"}]}}'
