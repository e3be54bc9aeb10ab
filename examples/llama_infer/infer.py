"""Greedy generation with TinyLlama on a GPU (fp16 by default), timed with CUDA synchronisation."""

import argparse
import time

import torch

from model import LlamaConfig, TinyLlama


@torch.inference_mode()
def generate(model: TinyLlama, prompt: torch.Tensor, max_new_tokens: int, eos_id: int | None = None):
    batch, prompt_len = prompt.shape
    # Output buffer allocated once on the GPU, filled step by step.
    tokens = torch.zeros(batch, prompt_len + max_new_tokens, dtype=torch.long, device="cuda")
    tokens[:, :prompt_len] = prompt
    length = prompt_len
    for _ in range(max_new_tokens):
        window = tokens[:, max(0, length - model.cfg.max_seq_len):length]
        logits = model(window)[:, -1, :]
        next_token = logits.argmax(dim=-1)
        tokens[:, length] = next_token
        length += 1
        if eos_id is not None and (next_token == eos_id).all():
            break
    return tokens[:, :length]


def legacy_half_defaults():
    """Old scripts made every new float tensor a CUDA half tensor."""
    torch.set_default_tensor_type(torch.cuda.HalfTensor)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--prompt-len", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument("--legacy-defaults", action="store_true")
    args = parser.parse_args()

    if args.legacy_defaults:
        legacy_half_defaults()
    torch.manual_seed(0)
    cfg = LlamaConfig()
    model = TinyLlama(cfg)
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cuda"))
    model = model.cuda().eval()
    if args.dtype == "float16":
        model = model.half()

    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, cfg.vocab_size, (args.batch_size, args.prompt_len), generator=g).cuda()

    for _ in range(args.warmup):
        generate(model, prompt, 4)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()

    t0 = time.perf_counter()
    out = generate(model, prompt, args.max_new_tokens)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0

    new_tokens = (out.shape[1] - prompt.shape[1]) * out.shape[0]
    print(f"generated {new_tokens} tokens in {elapsed * 1e3:.1f} ms "
          f"({new_tokens / elapsed:.0f} tok/s) on {torch.cuda.get_device_name()}, "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")
    for row in out.cpu().tolist():
        print(row)


if __name__ == "__main__":
    main()
