"""Stand-ins for the AWS credential endpoints a task or pod role uses, on 127.0.0.1 only.

Serves, on one port:
  GET  /creds                the ECS/Fargate/Batch container-credentials endpoint; answers only
                             when the Authorization header equals --auth-token
  POST /                     STS AssumeRoleWithWebIdentity (the token must equal --web-token and
                             the role --role-arn) and AssumeRole (signed with --source-key-id)
  GET  /hits                 how often each was asked, as JSON

Every answer hands out --key-id/--secret (the S3 test server's keys) with a session token, so a
request to the S3 server succeeds only if sluice went through one of these endpoints. Prints the
port on its first line, then serves until killed.
"""

import argparse
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

HITS = {"container": 0, "web_identity": 0, "assume_role": 0, "refused": 0}
LOCK = threading.Lock()


def hit(name):
    with LOCK:
        HITS[name] += 1


def expiry():
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def sts_xml(action, args):
    return f"""<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <Credentials>
      <AccessKeyId>{args.key_id}</AccessKeyId>
      <SecretAccessKey>{args.secret}</SecretAccessKey>
      <SessionToken>session-token-from-sts</SessionToken>
      <Expiration>{expiry()}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/sluice-etl/test</Arn>
      <AssumedRoleId>AROATESTROLE:test</AssumedRoleId>
    </AssumedRoleUser>
  </{action}Result>
  <ResponseMetadata><RequestId>4c1e3d4e-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</{action}Response>"""


def make_handler(args):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def reply(self, code, body, content_type):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self):
            hit("refused")
            self.reply(403, "<Error><Code>AccessDenied</Code></Error>", "text/xml")

        def do_GET(self):
            if self.path == "/hits":
                with LOCK:
                    return self.reply(200, json.dumps(HITS), "application/json")
            if self.path == "/creds" and self.headers.get("Authorization") == args.auth_token:
                hit("container")
                body = {
                    "AccessKeyId": args.key_id,
                    "SecretAccessKey": args.secret,
                    "Token": "session-token-from-container",
                    "Expiration": expiry(),
                }
                return self.reply(200, json.dumps(body), "application/json")
            self.refuse()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            action = form.get("Action")
            if (
                action == "AssumeRoleWithWebIdentity"
                and form.get("WebIdentityToken") == args.web_token
                and form.get("RoleArn") == args.role_arn
            ):
                hit("web_identity")
                return self.reply(200, sts_xml(action, args), "text/xml")
            signed_by = f"Credential={args.source_key_id}/"
            if (
                action == "AssumeRole"
                and form.get("RoleArn") == args.role_arn
                and signed_by in self.headers.get("Authorization", "")
            ):
                hit("assume_role")
                return self.reply(200, sts_xml(action, args), "text/xml")
            self.refuse()

    return Handler


def main():
    p = argparse.ArgumentParser()
    for name in ("key-id", "secret", "auth-token", "web-token", "role-arn", "source-key-id"):
        p.add_argument(f"--{name}", required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
