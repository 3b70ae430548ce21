"""A stand-in for the credential endpoints that run only inside AWS: a container credentials
endpoint (ECS's agent, EKS Pod Identity's) and the EC2 instance metadata service (IMDSv2).

- GET /v1/credentials with `Authorization: TOKEN`: temporary keys, numbered by request (KEY1,
  KEY2, ...), expiring LIFETIME seconds later; 401 with any other Authorization.
- PUT /latest/api/token with `X-aws-ec2-metadata-token-ttl-seconds`: a session token; 405 for
  GET, 400 without the TTL header (as IMDSv2 answers).
- GET /latest/meta-data/iam/security-credentials/ and .../ROLE with that session token in
  `X-aws-ec2-metadata-token`: the role's name, then keys as above; 401 without it.
- POST / with the form of STS's AssumeRole, signed with SigV4 for `sts` by any key id whose
  secret is TOKEN (and its session token, if any): keys as above, as STS's XML; 403 when the
  signature does not verify (checked with botocore's signer, not the project's).
- GET /last-form: the form fields of the last AssumeRole request, and `_region`,
  `_signed_headers` and `_token` of its signature, as JSON.
- GET /stats: {"served": N, "refused": M} (requests answered with keys, and refused).

usage: aws_credentials_stand_in.py PORT TOKEN LIFETIME_SECONDS
"""
import datetime
import hmac
import http.server
import json
import re
import sys
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

port, token, lifetime = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
session_token = "imds-session-token-1"
role = "webchat-role"
stats = {"served": 0, "refused": 0}
last_form = {}


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


def sigv4_problem(handler, body):
    """None if the request's SigV4 signature for sts verifies with TOKEN as the secret, else why not."""
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/sts/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        handler.headers.get("Authorization", ""))
    if not match:
        return "no SigV4 Authorization for sts"
    key, day, region, signed, signature = match.groups()
    amz_date = handler.headers.get("X-Amz-Date", "")
    if not amz_date.startswith(day):
        return "X-Amz-Date is not of the credential's day"
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return "host and x-amz-date must be signed"
    headers = {name: handler.headers[name] for name in names if name != "host" and name in handler.headers}
    request = AWSRequest(method="POST", url=f"http://{handler.headers['Host']}/", data=body, headers=headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key, token, handler.headers.get("X-Amz-Security-Token")), "sts", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, signature) else "signature does not match"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if self.path != "/" or form.get("Action") != "AssumeRole":
            return self.reply(400, "expected AssumeRole at /")
        problem = sigv4_problem(self, body)
        if problem:
            stats["refused"] += 1
            return self.reply(403, f"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>{problem}</Message></Error></ErrorResponse>")
        last_form.clear()
        last_form.update(form)
        # What the signature covered, for the test to check: the scope's region, the signed
        # headers and the session token.
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", self.headers["Authorization"]).group(1)
        signed = re.search(r"SignedHeaders=([^,]+)", self.headers["Authorization"]).group(1)
        last_form.update({"_region": scope, "_signed_headers": signed, "_token": self.headers.get("X-Amz-Security-Token", "")})
        answer = keys()
        self.reply(200, (
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>"
            f"<AccessKeyId>{answer['AccessKeyId']}</AccessKeyId><SecretAccessKey>{answer['SecretAccessKey']}</SecretAccessKey>"
            f"<SessionToken>{answer['Token']}</SessionToken><Expiration>{answer['Expiration']}</Expiration>"
            "</Credentials></AssumeRoleResult></AssumeRoleResponse>"))

    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, session_token)

    def do_GET(self):
        if self.path == "/stats":
            return self.reply(200, stats)
        if self.path == "/last-form":
            return self.reply(200, last_form)
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
