# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the Admin and Status API options (module_utils/kong_admin.admin_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  admin_url:
    description:
      - Base URL of the node's Admin API, for example V(http://127.0.0.1:8001).
      - C(localhost) in it means the host the task runs on.
    type: str
  status_url:
    description:
      - Base URL of the node's Status API, for example V(http://127.0.0.1:8007).
    type: str
  admin_token:
    description:
      - Sent as the C(Kong-Admin-Token) header (Enterprise RBAC), only to O(admin_url); never returned.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) URL.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle for verifying the Admin and Status API certificates.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for mutual TLS.
    type: path
  client_key:
    description:
      - Key of O(client_cert).
    type: path
  timeout:
    description:
      - Seconds per HTTP request.
    type: int
    default: 10
"""
