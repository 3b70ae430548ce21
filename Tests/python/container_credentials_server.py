"""A stand-in for a container credentials endpoint (ECS's agent, EKS Pod Identity's), which
does not run outside AWS: it answers GET with temporary keys as they do, numbered by request
(KEY1, KEY2, ...), expiring LIFETIME seconds later, and only with the right Authorization header.

usage: container_credentials_server.py PORT TOKEN LIFETIME_SECONDS
"""
import datetime
import http.server
import json
import sys

port, token, lifetime = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
served = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global served
        if self.headers.get("Authorization") != token:
            self.reply(401, {"message": "bad authorization"})
            return
        served += 1
        expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
        self.reply(200, {
            "AccessKeyId": f"KEY{served}",
            "SecretAccessKey": f"secret{served}",
            "Token": f"token{served}",
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": "arn:aws:iam::123456789012:role/webchat-test",
        })

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
