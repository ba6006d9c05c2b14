#!/usr/bin/env bash
# Prints a loopback TCP port that is free now, for a server that a script starts next (nginx, PostgreSQL).
#
# Chosen below the kernel's ephemeral range: bind(0) and every outgoing connection take their ports from that
# range, so between this check and the server's own bind only another listener could take the port.
set -euo pipefail
exec python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
first = 10000 if low > 12000 else 1024
for _ in range(200):
    port = random.randrange(first, low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit(f"free-port: no free port below {low}")
PY
