"""Time a forward pass of FusedLlama in bf16 on a GPU (flash-attn needs fp16/bf16 CUDA tensors)."""

import torch

from model import FusedLlama, LlamaConfig


def main(batch_size: int = 8, seq_len: int = 64, iters: int = 50):
    torch.manual_seed(0)
    model = FusedLlama(LlamaConfig()).to("cuda", dtype=torch.bfloat16).eval()
    tokens = torch.randint(0, model.cfg.vocab_size, (batch_size, seq_len), device="cuda")

    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    with torch.inference_mode():
        for _ in range(5):
            model(tokens)
        start.record()
        for _ in range(iters):
            logits = model(tokens)
        end.record()
    torch.cuda.synchronize()
    print(f"{start.elapsed_time(end) / iters:.3f} ms/forward, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
