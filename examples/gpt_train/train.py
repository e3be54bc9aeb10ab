"""Train the tiny GPT on a synthetic copy task.

Single GPU:   python train.py
Multi GPU:    torchrun --nproc_per_node=8 train.py
No GPU:       python train.py --steps 20 --batch-size 8   (falls back to the CPU, fp32, no streams)
"""

import argparse

import torch
import torch.nn.functional as F
from torch.cuda.amp import autocast, GradScaler
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import utils
from model import GPT, GPTConfig

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True


class CopyTask(Dataset):
    """Random token prefixes followed by their copy; the model learns to repeat."""

    def __init__(self, n: int, block_size: int, vocab_size: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        half = (block_size + 1) // 2
        prefix = torch.randint(0, vocab_size, (n, half), generator=g)
        self.data = torch.cat([prefix, prefix], dim=1)[:, : block_size + 1]

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, i):
        row = self.data[i]
        return row[:-1], row[1:]


def build_optimizer(model, lr: float, weight_decay: float):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if utils.HAS_APEX:
        return utils.FusedAdam(groups, lr=lr, adam_w_mode=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=True)


@torch.no_grad()
def evaluate(model, loader, device, use_amp: bool) -> float:
    model.eval()
    total = torch.zeros(1, device=device)
    count = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            logits = model(x)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        count += 1
    model.train()
    return (total / max(count, 1)).item()


@torch.no_grad()
def sample(model, prompt: torch.Tensor, steps: int, gen: torch.Generator) -> torch.Tensor:
    raw = model.module if hasattr(model, "module") else model
    idx = prompt.to(gen.device)
    for _ in range(steps):
        logits = raw(idx[:, -raw.cfg.block_size:])[:, -1, :]
        probs = torch.softmax(logits.float(), dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        idx = torch.cat([idx, utils.match_device(nxt, idx)], dim=1)
    return idx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gpus", default=None, help="e.g. '0,1'")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--export-fp16", default=None)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--val-size", type=int, default=1_000)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()

    rank, local_rank, world_size, device = utils.setup_distributed(args.gpus)
    on_gpu = device.type == "cuda"  # without a GPU: fp32 on the CPU, no side stream, no NVTX
    if rank == 0:
        utils.describe_devices()
    gen = utils.seed_everything(1337 + rank, device)

    cfg = GPTConfig(block_size=64, n_layer=args.n_layer, n_head=8, n_embd=args.n_embd)
    model = GPT(cfg).cuda(local_rank) if on_gpu else GPT(cfg)
    optimizer = build_optimizer(model, args.lr, weight_decay=0.1)
    step0 = utils.load_checkpoint(args.resume, model, optimizer) if args.resume else 0
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[local_rank], output_device=local_rank)
    if args.compile:
        model = torch.compile(model, mode="max-autotune")

    train_ds = CopyTask(20_000, cfg.block_size, cfg.vocab_size, seed=0)
    val_ds = CopyTask(args.val_size, cfg.block_size, cfg.vocab_size, seed=1)
    sampler = DistributedSampler(train_ds) if world_size > 1 else None
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=sampler is None,
                              sampler=sampler, num_workers=args.workers, pin_memory=True, drop_last=True)
    val_loader = DataLoader(val_ds, batch_size=args.batch_size, pin_memory=True)

    scaler = GradScaler(enabled=on_gpu)
    # Host-to-device copies overlap compute on a side stream; `torch.cuda.stream(None)` is a no-op.
    copy_stream = torch.cuda.Stream() if on_gpu else None
    step, epoch = step0, 0
    while step < args.steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x, y in train_loader:
            with torch.cuda.stream(copy_stream):
                x = x.to(device, non_blocking=True)
                y = y.to(device=device, non_blocking=True)
            if copy_stream is not None:
                torch.cuda.current_stream().wait_stream(copy_stream)

            if on_gpu:
                torch.cuda.nvtx.range_push(f"step {step}")
            with utils.CudaTimer() as timer:
                with autocast(enabled=on_gpu):
                    logits = model(x)
                    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
            if on_gpu:
                torch.cuda.nvtx.range_pop()

            if rank == 0 and step % args.log_every == 0:
                print(f"step {step:5d} | loss {loss.item():.4f} | {timer.ms:.1f} ms")
                utils.memory_report(f"step {step}", device)
            step += 1
            if step >= args.steps:
                break
        epoch += 1

    if rank == 0:
        print(f"val loss {evaluate(model, val_loader, device, use_amp=on_gpu):.4f}")
        prompt = torch.randint(0, cfg.vocab_size, (1, 8), generator=torch.Generator().manual_seed(0))
        print(sample(model, prompt.pin_memory() if on_gpu else prompt, 16, gen).tolist())
        utils.save_checkpoint("gpt_ckpt.pt", model, optimizer, step)
        if on_gpu:
            print(utils.dump_memory_summary(device))
        if args.export_fp16:
            raw = model.module if hasattr(model, "module") else model
            torch.save(raw.half().state_dict(), args.export_fp16)
    utils.cleanup_distributed()


def smoke_test():
    """Quick single-GPU check that a fresh model runs under the default cuda device."""
    torch.set_default_device("cuda")
    cfg = GPTConfig()
    model = GPT(cfg).cuda()
    x = torch.randint(0, cfg.vocab_size, (2, 16), device="cuda")
    noise = torch.randn(2, 16, cfg.n_embd, device="cuda")
    emb = model.wte(x) + noise.to(device="cuda")
    assert emb.is_cuda
    _, ms = utils.wall_clock_step(model, x)
    print(f"smoke test forward: {ms:.2f} ms")
    if utils.HAS_FLASH_ATTN:
        q = torch.randn(2, 16, 4, 16, dtype=torch.float16).to("cuda")
        print("flash_attn out", utils.flash_attn_func(q, q, q, causal=True).shape)
    if utils.HAS_XFORMERS:
        q = torch.randn(2, 16, 4, 16, device="cuda", dtype=torch.float16)
        print("xformers out", utils.xops.memory_efficient_attention(q, q, q).shape)


def legacy_smoke_test():
    utils.legacy_fp16_defaults()
    model = GPT(GPTConfig()).cuda().half()
    x = torch.randint(0, 128, (2, 16)).cuda("cuda:0")
    print(model(x).dtype)


if __name__ == "__main__":
    main()
