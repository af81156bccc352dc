"""Write a tiny llama-architecture GGUF model with random weights (for ``record_transcripts``).

Run with a Python that has ``gguf`` and ``numpy`` (the llama-cpp-python venv)::

    python tests/formats/tiny_gguf.py tiny.gguf

Nothing is downloaded: the weights are random, the vocabulary is the 256 bytes plus three
control tokens, so the model writes gibberish, quickly, which is all a wire-format transcript needs.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_tiny_gguf(path: Path) -> None:
    """A llama-architecture model with random weights and a byte-level vocabulary.

    Two layers, width 64: it generates gibberish quickly, which is all a transcript of the
    server's wire format needs.
    """
    import gguf  # type: ignore[import-not-found]  # only in the recording venv
    import numpy as np

    rng = np.random.default_rng(11)
    n_vocab, n_embd, n_head, n_layer, n_ff = 259, 64, 4, 2, 128
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("streamkit-tiny-random")
    writer.add_context_length(512)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types([2, 3, 3] + [6] * 256)  # unknown, control, control, bytes
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_chat_template(
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>"
    )

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    tensor("token_embd.weight", n_vocab, n_embd)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    tensor("output.weight", n_vocab, n_embd)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"blk.{i}.{part}.weight", n_embd, n_embd)
        tensor(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    write_tiny_gguf(Path(sys.argv[1]))
