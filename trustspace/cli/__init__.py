"""The ``trustspace`` command line: run a node, drive it, run the demo.

One module per command group; what they share (the console, ``--node``/``--key``, calling the
management API, failing with a message) is in :mod:`trustspace.cli.common`.
"""

from __future__ import annotations

import click

from trustspace.cli import catalog, negotiation, node, transfer
from trustspace.cli.compute import compute
from trustspace.cli.evidence import evidence_group, verify_certificate
from trustspace.cli.operator import member, operator, search
from trustspace.cli.policy import policy
from trustspace.cli.product import product
from trustspace.cli.users import user


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustspace")
def main() -> None:
    """trustspace: a trusted data space node speaking the Dataspace Protocol 2025-1.

    Run a node with `serve`, try everything with `demo`, and drive a running node
    (publish, catalog, negotiate, transfer, download) with the other commands.
    Those talk to the node's management API: --node URL and --key KEY, or the
    TRUSTSPACE_NODE and TRUSTSPACE_MANAGEMENT_KEY environment variables.
    """


for _command in (
    node.serve, node.init, node.show_settings, catalog.publish, catalog.catalog,
    negotiation.negotiate, negotiation.negotiations, transfer.transfers, transfer.transfer,
    negotiation.terminate, transfer.download, transfer.call_api, node.demo,
    policy, operator, member, search, evidence_group, verify_certificate, product, compute, user,
):  # fmt: skip
    main.add_command(_command)
