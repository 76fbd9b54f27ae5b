"""The simple function as the platform starts it, in a process of its own (run by
test_keyless_signing.py, not collected by pytest).

functions-framework loads ``functions/main.py`` with target ``simple`` from the environment
it is given, so google-auth reads ``GCE_METADATA_HOST`` at import as on Cloud Run. The clock
Cloud Storage signs with is frozen at argv[1] (ISO 8601, UTC). argv[2] is a JSON list of
``{"path", "auth": [user, password]}``; each answer is printed as one JSON line.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path

MAIN_PY = Path(__file__).resolve().parents[2] / "functions" / "main.py"


def main() -> None:
    frozen = dt.datetime.fromisoformat(sys.argv[1])
    # google-cloud-storage takes the time of a V4 signature from this module-level clock.
    import google.cloud.storage._signing as signing

    signing._NOW = lambda tz=None: frozen.astimezone(tz) if tz else frozen.replace(tzinfo=None)

    import functions_framework

    client = functions_framework.create_app(target="simple", source=str(MAIN_PY)).test_client()
    for req in json.loads(sys.argv[2]):
        user, password = req["auth"]
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        r = client.get(req["path"], headers={"Authorization": f"Basic {basic}"})
        print(
            json.dumps(
                {"status": r.status_code, "headers": dict(r.headers), "body": r.get_data(as_text=True)}
            )
        )


if __name__ == "__main__":
    main()
