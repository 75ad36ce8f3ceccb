from hunter_cli.audit import verify_chain


def test_seed_and_verify(seeded):
    with seeded.session() as session:
        assert verify_chain(session).ok


def test_cli_seed_twice(workspace, cli):
    first = cli("seed", "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["data"]["changed"] is True
    second = cli("seed")
    assert second.exit_code == 0
    assert "Nothing to do" in second.stdout
