"""Train PortableMLP on a synthetic regression problem on whatever accelerator is present."""

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from model import PortableMLP


def pick_device() -> torch.device:
    if torch.accelerator.is_available():
        return torch.accelerator.current_accelerator()
    return torch.device("cpu")


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def make_data(n: int, in_features: int, out_features: int, seed: int = 0) -> TensorDataset:
    # The target function is fixed; only the sampled points depend on `seed`.
    w = torch.randn(in_features, out_features, generator=torch.Generator().manual_seed(1234))
    w = w / in_features**0.5
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_features, generator=g)
    y = torch.tanh(x @ w) + 0.05 * torch.randn(n, out_features, generator=g)
    return TensorDataset(x, y)


def sync(device: torch.device) -> None:
    if device.type != "cpu":
        torch.accelerator.synchronize()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--amp-dtype", choices=sorted(AMP_DTYPES), default="bf16")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = pick_device()
    print(f"device: {device}")

    model = PortableMLP().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    dtype = AMP_DTYPES[args.amp_dtype]
    use_scaler = args.amp and dtype == torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)

    train_ds = make_data(4096, 16, 4, seed=0)
    val_ds = make_data(512, 16, 4, seed=1)
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True)

    for epoch in range(args.epochs):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with torch.amp.autocast(device_type=device.type, dtype=dtype, enabled=args.amp):
                loss = F.mse_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        sync(device)
        elapsed = time.perf_counter() - t0

        model.eval()
        with torch.no_grad():
            vx, vy = val_ds.tensors
            val = F.mse_loss(model(vx.to(device)), vy.to(device)).item()
        print(f"epoch {epoch} | train {loss.item():.4f} | val {val:.4f} | {elapsed * 1e3:.0f} ms")

    torch.save(model.state_dict(), "portable_mlp.pt")
    state = torch.load("portable_mlp.pt", map_location=device)
    model.load_state_dict(state)


if __name__ == "__main__":
    main()
