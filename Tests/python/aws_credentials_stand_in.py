"""A stand-in for the credential endpoints that run only inside AWS: a container credentials
endpoint (ECS's agent, EKS Pod Identity's) and the EC2 instance metadata service (IMDSv2).

- GET /v1/credentials with `Authorization: TOKEN`: temporary keys, numbered by request (KEY1,
  KEY2, ...), expiring LIFETIME seconds later; 401 with any other Authorization.
- PUT /latest/api/token with `X-aws-ec2-metadata-token-ttl-seconds`: a session token; 405 for
  GET, 400 without the TTL header (as IMDSv2 answers).
- GET /latest/meta-data/iam/security-credentials/ and .../ROLE with that session token in
  `X-aws-ec2-metadata-token`: the role's name, then keys as above; 401 without it.
- GET /stats: {"served": N, "refused": M} (requests answered with keys, and refused).

usage: aws_credentials_stand_in.py PORT TOKEN LIFETIME_SECONDS
"""
import datetime
import http.server
import json
import sys

port, token, lifetime = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
session_token = "imds-session-token-1"
role = "webchat-role"
stats = {"served": 0, "refused": 0}


def keys():
    stats["served"] += 1
    n = stats["served"]
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
    return {
        "Code": "Success",
        "AccessKeyId": f"KEY{n}",
        "SecretAccessKey": f"secret{n}",
        "Token": f"token{n}",
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Handler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, session_token)

    def do_GET(self):
        if self.path == "/stats":
            return self.reply(200, stats)
        if self.path == "/latest/api/token":
            return self.reply(405, "use PUT")
        if self.path.startswith("/latest/meta-data/"):
            if self.headers.get("X-aws-ec2-metadata-token") != session_token:
                stats["refused"] += 1
                return self.reply(401, "missing or wrong session token")
            if self.path == "/latest/meta-data/iam/security-credentials/":
                return self.reply(200, role + "\n")
            if self.path == f"/latest/meta-data/iam/security-credentials/{role}":
                return self.reply(200, keys())
            return self.reply(404, "not found")
        if self.headers.get("Authorization") != token:
            stats["refused"] += 1
            return self.reply(401, {"message": "bad authorization"})
        self.reply(200, keys())

    def reply(self, status, body):
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
