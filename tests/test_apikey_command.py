"""manage.py apikey create | revoke | list (SPEC §9), and what the ingest path makes of it."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from messaging import api_keys
from messaging.models import ApiKey


def run(*argv) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("apikey", *argv, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_apikey_create__prints_the_key_once__only_its_digest_stored():
    out, err = run("create", "billing")

    raw = out.strip()
    assert raw.startswith(api_keys.KEY_PREFIX) and "shown once" in err
    key = ApiKey.objects.get(name="billing")
    assert key.digest == api_keys.digest_of(raw) and raw not in (key.prefix, key.digest)


@pytest.mark.django_db
def test_apikey_revoke__live_keys_of_that_name_revoked__others_kept():
    run("create", "old")
    run("create", "keep")

    out, _ = run("revoke", "old")

    assert "Revoked 1 key" in out
    assert ApiKey.objects.get(name="old").revoked_at is not None
    assert ApiKey.objects.get(name="keep").revoked_at is None


@pytest.mark.django_db
def test_apikey_revoke__unknown_name__command_error():
    with pytest.raises(CommandError, match="no live API key"):
        run("revoke", "nobody")


@pytest.mark.django_db
def test_apikey_list__names_prefixes_and_state_never_the_key():
    raw = run("create", "a")[0].strip()
    run("create", "b")
    run("revoke", "b")

    out, _ = run("list")

    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["a", "b"]
    assert lines[0].endswith("live") and "revoked" in lines[1]
    assert raw not in out and raw[:10] in out
    assert lines[0].split("\t")[2] == "ingest,read"


@pytest.mark.django_db
def test_apikey_create__no_scope__ingest_and_read():
    run("create", "client")

    assert ApiKey.objects.get(name="client").scope_set == {"ingest", "read"}


@pytest.mark.django_db
def test_apikey_create__scope_given__stored_in_order_and_named_on_stderr():
    _, err = run("create", "ops", "--scope", "operate, read,ingest")

    assert ApiKey.objects.get(name="ops").scopes == "ingest,read,operate"
    assert "ingest,read,operate" in err


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["admin", "read,everything", "", ","])
def test_apikey_create__unknown_or_no_scope__command_error_no_key(scope):
    with pytest.raises(CommandError, match="--scope"):
        run("create", "bad", "--scope", scope)

    assert not ApiKey.objects.exists()
