"""`make demo`: the explainer example end to end on the embedded defaults.

This home's local Prefect server (started on first use), SQLite and media under
`./.vidpipe`, placeholder providers: nothing to set up, nothing paid. Validates every
example, runs `examples/explainer.yaml`, and says where the MP4 is, where the run is in
the Prefect UI, and how to stop the server.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> int:
    from vidpipe.cli import app, prepare_prefect

    # Choose the Prefect server before anything imports Prefect (`plan` does): Prefect
    # reads PREFECT_API_URL once, at import.
    prepare_prefect()

    examples = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    for args in (["validate", *examples], ["plan", str(EXAMPLES / "explainer.yaml")]):
        code = app(args, standalone_mode=False)
        if code:
            return code
    print("\nRunning the explainer in placeholder mode (the first start of Prefect takes ~20 s)")
    code = app(
        ["run", str(EXAMPLES / "explainer.yaml"), "--mode", "placeholder", "--approve", "auto"],
        standalone_mode=False,
    )
    from vidpipe.cli import local_server

    server = local_server()
    if server is not None:
        print(
            f"\nThe Prefect UI stays at {server.ui_url} until 30 minutes without use; "
            "`.venv/bin/vidpipe server stop` stops it now."
        )
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
