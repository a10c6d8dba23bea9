"""``edgecompress targets``: list the device profiles, or show one with every figure's source."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.group("targets", invoke_without_command=True)
@json_option
@click.pass_context
def command(ctx, as_json):
    """List device profiles: built-in ones and yours ($EDGECOMPRESS_PROFILES).

    \b
    Example:
      edgecompress targets
      edgecompress targets --json
      edgecompress targets show rpi4
    """
    if ctx.invoked_subcommand is not None:
        return
    from targets.spec import all_profiles, render_table

    profiles = [p for _, p in sorted(all_profiles().items())]
    if as_json:
        emit_json([p.to_dict() for p in profiles])
    else:
        click.echo(render_table(profiles))


@command.command("show")
@click.argument("profile")
@json_option
def show(profile, as_json):
    """Show all of PROFILE (an id or a .yaml file), each figure with its source.

    \b
    Example:
      edgecompress targets show coral-usb --json
    """
    from targets.spec import get_profile, render_profile

    found = get_profile(profile)
    if as_json:
        emit_json(found.to_dict())
    else:
        click.echo(render_profile(found))
