"""Train SmallCNN on a synthetic 10-class image task on one GPU."""

import argparse

import torch
import torch.nn as nn
from torch.cuda.amp import GradScaler, autocast
from torch.utils.data import DataLoader, TensorDataset

from model import SmallCNN

torch.backends.cudnn.benchmark = True


def synthetic_images(n: int, num_classes: int = 10, seed: int = 0) -> TensorDataset:
    """Each class is a fixed random colour pattern plus noise."""
    protos = torch.randn(num_classes, 3, 32, 32, generator=torch.Generator().manual_seed(42))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    images = protos[labels] + 0.8 * torch.randn(n, 3, 32, 32, generator=g)
    return TensorDataset(images, labels)


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            images = images.cuda(non_blocking=True).to(memory_format=torch.channels_last)
            labels = labels.cuda(non_blocking=True)
            with autocast():
                logits = model(images)
            correct += (logits.argmax(1) == labels).sum().item()
            total += labels.numel()
    model.train()
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", default="small_cnn.pt")
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--time-steps", action="store_true", help="time each step with CUDA events")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        print("warning: no CUDA GPU found; this script needs one")
    torch.manual_seed(0)

    model = SmallCNN().cuda(args.gpu).to(memory_format=torch.channels_last)
    if args.resume:
        model.load_state_dict(torch.load(args.resume, map_location=f"cuda:{args.gpu}"))
    if torch.cuda.device_count() > 1:
        model = nn.DataParallel(model)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                                weight_decay=5e-4, nesterov=True)
    train_loader = DataLoader(synthetic_images(args.train_size, seed=0), batch_size=args.batch_size,
                              shuffle=True, num_workers=args.workers, pin_memory=True, drop_last=True)
    val_loader = DataLoader(synthetic_images(args.train_size // 5, seed=1), batch_size=512,
                            num_workers=args.workers, pin_memory=True)
    steps = args.epochs * len(train_loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    scaler = GradScaler()

    for epoch in range(args.epochs):
        running = 0.0
        for images, labels in train_loader:
            images = images.cuda(non_blocking=True).to(memory_format=torch.channels_last)
            labels = labels.cuda(non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            if args.time_steps:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            with autocast():
                loss = criterion(model(images), labels)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if args.time_steps:
                end.record()
                torch.cuda.synchronize()
                print(f"step {start.elapsed_time(end):.2f} ms")
            sched.step()
            running += loss.item()
        print(f"epoch {epoch:2d} | loss {running / len(train_loader):.4f} "
              f"| val acc {accuracy(model, val_loader):.3f} "
              f"| mem {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")

    torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
