"""Schemathesis' check of Conveyor's "no 5xx" (loaded by tests/tests/fuzz_api.rs through SCHEMATHESIS_HOOKS).

Schemathesis' own `not_a_server_error` refuses every 5xx. SPEC §1.2 answers an unknown control action with
HTTP 501 and JSON-RPC error -32601, as Buildbot does and its clients expect, and the document lists it; that
one answer passes, every other 5xx fails.
"""

import schemathesis


@schemathesis.check
def no_server_error(ctx, response, case):
    if response.status_code < 500:
        return None
    if response.status_code == 501:
        try:
            error = response.json().get("error") or {}
        except Exception:
            error = {}
        if isinstance(error, dict) and error.get("code") == -32601:
            return None
    raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")
