"""The ``routerrec`` command line: the group and its commands, one module per command group.

Every command has ``--help`` with an example and ``--json``; what the commands share lives in
``options``. This is the one place that lists the commands.
"""
from __future__ import annotations

import click

from .. import __version__
from .calibrate import calibrate
from .data import data
from .errors import ReportingGroup
from .evaluate import evaluate
from .fit import fit, predict
from .probes import add_model_command, probes
from .route import route
from .serve import serve
from .tune import tune_command


@click.group(cls=ReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="routerrec")
@click.option("--debug", is_flag=True,
              help="On an error, print the traceback before the one-line message.")
def main(debug):
    """routerrec: LLM routing as a recommender-system problem.

    An error is one line on stderr: exit status 2 for bad input (an option, a file), 1 for
    an internal error (a bug; run again with --debug for its traceback).

    \b
    Example:
      routerrec fit --method als --holdout 0.1 --out out/als
      routerrec predict --model out/als --top 3
    """


for command in (fit, predict, data, tune_command, route, calibrate, probes, add_model_command,
                evaluate, serve):
    main.add_command(command)
