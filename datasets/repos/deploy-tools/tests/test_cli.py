from deploy.cli import rollout, sha256_of


def test_dry_run_prints_the_command(capsys):
    assert rollout("staging", "registry.example.com/shop:v1", dry_run=True) == 0
    assert "deployment/shop" in capsys.readouterr().out


def test_sha256_of_a_file(tmp_path):
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"release")
    assert len(sha256_of(path)) == 64
