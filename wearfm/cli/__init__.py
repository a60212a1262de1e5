"""The `wearfm` command line: one module per command, all on one Typer app."""

from wearfm.cli._app import app

# Importing a command module registers its command(s) on `app`, in this order in --help.
from wearfm.cli import quickstart as _quickstart  # noqa: F401, E402
from wearfm.cli import ingest as _ingest  # noqa: F401, E402  (ingest, info)
from wearfm.cli import manifest as _manifest  # noqa: F401, E402
from wearfm.cli import qc as _qc  # noqa: F401, E402
from wearfm.cli import pair as _pair  # noqa: F401, E402
from wearfm.cli import pretrain as _pretrain  # noqa: F401, E402
from wearfm.cli import probe as _probe  # noqa: F401, E402
from wearfm.cli import classify as _classify  # noqa: F401, E402  (classify fit|predict|summary)
from wearfm.cli import export as _export  # noqa: F401, E402  (export, embed)

__all__ = ["app"]
