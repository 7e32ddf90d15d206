# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the options of modules that run a node's kong (module_utils/kong_cli.cli_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kong_bin:
    description: The node's C(kong) command.
    type: path
    default: /usr/local/bin/kong
  conf:
    description:
      - The node's C(kong.conf), passed as C(-c).
      - Without it Kong reads its default locations (C(/etc/kong/kong.conf), then C(/etc/kong.conf)).
    type: path
    aliases: [conf_path]
  prefix:
    description:
      - The node's prefix, passed as C(-p) (as C(KONG_PREFIX) for Kong older than 2.4, which has no C(-p)).
    type: path
  environment:
    description:
      - C(KONG_*) environment variables of the commands, for example C(KONG_PG_PASSWORD).
      - Passed only through the process environment, never on a command line; every value is hidden from the
        module's output.
    type: dict
    default: {}
"""
