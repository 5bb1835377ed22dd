"""Reading GGUF headers over HTTP from real servers on 127.0.0.1 (Range, no Range, redirects...)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest

from tests.fakes.file_server import CHUNK, FileServer
from workbench.errors import BadInput, RuntimeFailure
from workbench.gguf import (
    GGUFError,
    GGUFHeader,
    GGUFRemoteError,
    GGUFSourceError,
    read_header,
    read_split_headers,
)

MiB = 1024 * 1024


def write_model(path: Path, *, n_vocab: int = 1000, data_mib: int = 0) -> None:
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("remote test")
    writer.add_context_length(4096)
    writer.add_token_list([f"token-{i:07d}" for i in range(n_vocab)])
    writer.add_tensor("token_embd.weight", np.zeros((n_vocab, 32), dtype=np.float16))
    if data_mib:
        writer.add_tensor("big.weight", np.zeros((data_mib, MiB // 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("served")
    made = {"small.gguf": {}, "big.gguf": {"data_mib": 40},
            "vocab.gguf": {"n_vocab": 300_000}}  # a ~6 MiB header: the window doubles twice
    for name, options in made.items():
        write_model(directory / name, **options)  # type: ignore[arg-type]
    writer = gguf.GGUFWriter(directory / "s.gguf", "llama", split_max_tensors=1)
    for i in range(2):
        writer.add_tensor(f"t{i}", np.zeros(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {p.name: p for p in directory.iterdir()}


@pytest.fixture(scope="module")
def servers(files: dict[str, Path]) -> Iterator[FileServer]:
    served = {name: path.read_bytes() for name, path in files.items()}
    served["truncated.gguf"] = served["small.gguf"][:-100]
    other = FileServer(served)
    main = FileServer(served, other=other)
    yield main
    main.close()
    other.close()


@pytest.fixture
def server(servers: FileServer) -> FileServer:
    """The module's server pair with fresh request logs and byte counts."""
    for each in (servers, servers.other):
        assert each is not None
        each.requests.clear()  # a handler still busy from a test before counts in its old record
    return servers


def same(remote: GGUFHeader, local: GGUFHeader) -> bool:
    return dataclasses.replace(remote, source=local.source) == local


def test_range_read_transfers_only_the_header(server: FileServer, files: dict[str, Path]) -> None:
    url = server.url("range", "big.gguf")
    header = read_header(url)
    local = read_header(files["big.gguf"])
    assert same(header, local)
    assert header.source == url
    assert header.file_size == files["big.gguf"].stat().st_size > 40 * MiB
    assert server.ranges() == [f"bytes=0-{2 * MiB - 1}"]
    assert server.sent == 2 * MiB
    assert [r.method for r in server.requests] == ["HEAD", "GET"]
    assert "Authorization" not in server.requests[1].headers


def test_window_doubles_while_the_header_is_incomplete(server: FileServer,
                                                       files: dict[str, Path]) -> None:
    header = read_header(server.url("range", "vocab.gguf"))
    assert same(header, read_header(files["vocab.gguf"]))
    assert len(header.metadata["tokenizer.ggml.tokens"]) == 300_000
    assert 4 * MiB < header.header_size < 8 * MiB
    assert server.ranges() == [f"bytes=0-{2 * MiB - 1}", f"bytes={2 * MiB}-{4 * MiB - 1}",
                               f"bytes={4 * MiB}-{8 * MiB - 1}"]
    assert server.sent == 8 * MiB
    with pytest.raises(GGUFError, match="max_header_bytes"):
        read_header(server.url("range", "vocab.gguf"), max_header_bytes=4 * MiB)


def test_server_ignoring_range_is_not_downloaded_whole(server: FileServer,
                                                       files: dict[str, Path]) -> None:
    header = read_header(server.url("norange", "big.gguf"))
    assert same(header, read_header(files["big.gguf"]))
    assert header.bytes_read <= 2 * MiB + CHUNK
    assert server.sent < 16 * MiB  # the window plus what socket buffers took: not 40 MiB


def test_redirect_is_followed(server: FileServer, files: dict[str, Path]) -> None:
    header = read_header(server.url("redirect", "small.gguf"))
    assert same(header, read_header(files["small.gguf"]))
    assert [r.path for r in server.requests] == [
        "/redirect/small.gguf", "/range/small.gguf", "/redirect/small.gguf",
        "/range/small.gguf"]


def test_redirect_to_a_url_signed_for_get_only(server: FileServer,
                                               files: dict[str, Path]) -> None:
    header = read_header(server.url("signed", "big.gguf"))
    assert same(header, read_header(files["big.gguf"]))
    assert server.sent == 2 * MiB


def test_token_is_sent_when_asked_and_not_to_another_origin(server: FileServer) -> None:
    header = read_header(server.url("private", "small.gguf"), token=FileServer.TOKEN)
    assert header.metadata["general.name"] == "remote test"
    assert all(r.headers["Authorization"] == f"Bearer {FileServer.TOKEN}"
               for r in server.requests)

    assert server.other is not None
    read_header(server.url("elsewhere", "small.gguf"), token=FileServer.TOKEN)
    assert server.other.requests
    assert all("Authorization" not in r.headers for r in server.other.requests)


@pytest.mark.parametrize(("mode", "token", "message"), [
    ("private", None, "HTTP 401 unauthorized: this needs a token"),
    ("private", "wrong", "HTTP 403 forbidden"),
    ("range", None, "HTTP 404: no such file"),
])
def test_http_errors(server: FileServer, mode: str, token: str | None, message: str) -> None:
    name = "missing.gguf" if "404" in message else "small.gguf"
    with pytest.raises(GGUFSourceError, match=message) as caught:
        read_header(server.url(mode, name), token=token)
    assert isinstance(caught.value, BadInput)
    assert "\n" not in str(caught.value)


def test_size_from_content_range_when_head_fails(server: FileServer,
                                                 files: dict[str, Path]) -> None:
    header = read_header(server.url("nohead", "small.gguf"))
    assert same(header, read_header(files["small.gguf"]))


def test_size_from_end_of_body_without_any_length(server: FileServer,
                                                  files: dict[str, Path]) -> None:
    header = read_header(server.url("nosize", "small.gguf"))
    assert header.file_size == files["small.gguf"].stat().st_size


def test_no_size_and_a_big_file_is_an_error(server: FileServer) -> None:
    with pytest.raises(GGUFRemoteError, match="no file size"):
        read_header(server.url("nosize", "big.gguf"))


def test_truncated_remote_file(server: FileServer) -> None:
    with pytest.raises(GGUFError, match="runs past the end of the file"):
        read_header(server.url("range", "truncated.gguf"))


@pytest.mark.parametrize(("mode", "message"), [
    ("short", "the server ended the response after"),
    ("cut", "transfer failed: RemoteProtocolError"),
    ("liar", "the server sent bytes from 1"),
])
def test_misbehaving_servers(server: FileServer, mode: str, message: str) -> None:
    with pytest.raises(GGUFRemoteError, match=message) as caught:
        read_header(server.url(mode, "small.gguf"))
    assert isinstance(caught.value, RuntimeFailure)


def test_timeout(server: FileServer) -> None:
    # the read's own timeout names the failure (the slow server would answer in the end)
    with pytest.raises(GGUFRemoteError, match="timed out"):
        read_header(server.url("slow", "small.gguf"), timeout=0.5)


def test_trickling_server_hits_the_overall_time_limit(server: FileServer) -> None:
    # every byte comes within the read timeout: only the overall limit can stop it
    with pytest.raises(GGUFRemoteError, match="too slow"):
        read_header(server.url("trickle", "big.gguf"), timeout=0.25)  # 2.5 s for one read


@pytest.mark.parametrize("url", ["http://", "https://:80/x", "http://[::1/x",
                                 "http://user:password@127.0.0.1:1/m.gguf?signature=abc"])
def test_bad_urls(url: str) -> None:
    with pytest.raises((GGUFSourceError, GGUFRemoteError)) as caught:
        read_header(url, timeout=2)
    message = str(caught.value)
    assert "\n" not in message
    assert "password" not in message and "signature" not in message


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GGUFRemoteError, match="cannot connect"):
        read_header(f"http://127.0.0.1:{port}/model.gguf", timeout=2)


def test_split_model_over_http(server: FileServer, files: dict[str, Path]) -> None:
    headers = read_split_headers(server.url("range", "s-00001-of-00002.gguf"))
    assert [t.name for h in headers for t in h.tensors] == ["t0", "t1"]
    assert same(headers[1], read_header(files["s-00002-of-00002.gguf"]))
