"""Greedy generation with TinyLlama on a GPU in fp16."""

import argparse
import time

import torch

from model import LlamaConfig, TinyLlama


@torch.inference_mode()
def generate(model: TinyLlama, prompt: torch.Tensor, max_new_tokens: int, eos_id: int | None = None):
    tokens = prompt
    for _ in range(max_new_tokens):
        window = tokens[:, -model.cfg.max_seq_len:]
        logits = model(window)[:, -1, :]
        next_token = logits.argmax(dim=-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], dim=1)
        if eos_id is not None and (next_token == eos_id).all():
            break
    return tokens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--prompt-len", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    cfg = LlamaConfig()
    model = TinyLlama(cfg)
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    model = model.cuda().half().eval()

    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, cfg.vocab_size, (args.batch_size, args.prompt_len), generator=g).cuda()

    for _ in range(args.warmup):
        generate(model, prompt, 4)
    torch.cuda.synchronize()

    t0 = time.perf_counter()
    out = generate(model, prompt, args.max_new_tokens)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0

    new_tokens = (out.shape[1] - prompt.shape[1]) * out.shape[0]
    print(f"generated {new_tokens} tokens in {elapsed * 1e3:.1f} ms "
          f"({new_tokens / elapsed:.0f} tok/s) on {torch.cuda.get_device_name()}")
    for row in out.cpu().tolist():
        print(row)


if __name__ == "__main__":
    main()
