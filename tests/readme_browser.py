"""The README's browser steps, done without a browser (tests/functions/test_readme.py).

Run from the README's shell session, after its export lines, so it reaches the stack the way
`bale admin` does (the environment names the emulators):

    python tests/readme_browser.py signup EMAIL
        creates EMAIL's account in the Firebase Auth emulator through the REST call the
        dashboard's sign-in page makes (accounts:signUp);
    python tests/readme_browser.py approve EMAIL -- COMMAND...
        runs COMMAND (`bale login URL`), reads the code it prints and approves it as EMAIL
        through the device-code service the dashboard's approval page calls, then relays the
        command's output and exit status.

What is not exercised here, the pages themselves, is covered by tests/web/ in Chromium.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request

PASSWORD = "readme-walkthrough-1"


def signup(email: str) -> int:
    host = os.environ["FIREBASE_AUTH_EMULATOR_HOST"]  # from the export lines the README pasted
    req = urllib.request.Request(
        f"http://{host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any",
        data=json.dumps({"email": email, "password": PASSWORD, "returnSecureToken": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    assert answer.get("email") == email, answer
    print(f"readme-test: signed up {email} on the Auth emulator")
    return 0


def approve(email: str, command: list[str]) -> int:
    from bale.settings import get_settings
    from bale.store.backends import get_stores
    from bale.tokens.device import Devices

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    sys.stdout.write(first)
    m = re.search(r"enter the code (\S+)", first)
    if not m:
        proc.kill()
        print(f"readme-test: {command[0]} printed no code to approve", file=sys.stderr)
        return 1
    Devices(get_stores(get_settings())).decide(m.group(1), email, approve=True)
    print(f"readme-test: approved {m.group(1)} as {email}")
    sys.stdout.write(proc.stdout.read())
    return proc.wait(timeout=120)


def main(argv: list[str]) -> int:
    if argv[:1] == ["signup"] and len(argv) == 2:
        return signup(argv[1])
    if argv[:1] == ["approve"] and len(argv) > 3 and argv[2] == "--":
        return approve(argv[1], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
