"""HTTP pull data plane: the provider serves one file per transfer, the consumer downloads it.

`server.pull_routes` exposes `GET|HEAD {prefix}/{transfer_id}` guarded by a per-transfer bearer
token that is re-checked on every request; `client.download` fetches such an endpoint into a
file, resumably and with a streaming SHA-256. Neither side ever holds a whole file in memory.
"""
