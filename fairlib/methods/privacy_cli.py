"""Run one role of notebook 03 as its own process: it reads its own data file and the other party's adapter
folder, and writes an adapter folder (never a head, never data).

Examples
--------
The auditor trains the sensitive adapter; the developer fine-tunes with the orthogonality loss against it::

    python -m fairlib.methods.privacy_cli auditor-sensitive --data auditor.npz --out exchange/sensitive
    python -m fairlib.methods.privacy_cli developer --data developer.npz --strategy orth \\
        --sensitive exchange/sensitive --out exchange/task

One adversarial round on the auditor's side (``adv``)::

    python -m fairlib.methods.privacy_cli auditor-adversary --data auditor.npz --adapter exchange/task \\
        --out exchange/task_debiased

Data files are written by :meth:`DeveloperView.save` (``x``, ``y``) and :meth:`AuditorView.save` (``x``, ``s``);
a developer file holding a sensitive column, or an auditor file holding labels, is refused. Hyper-parameters
come from the profile's ``privacy`` section (``--profile``); the developer's private head is written to
``--private`` if given (a folder that is not an exchange). Each command prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fairlib.methods.privacy_cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    for name, help_ in (("developer", "train the task adapter on (x, y)"),
                        ("auditor-sensitive", "train the sensitive adapter on (x, s)"),
                        ("auditor-adversary", "one adversarial round on the developer's adapter")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data", required=True, help="this role's .npz data file")
        p.add_argument("--out", required=True, help="exchange folder to write")
        p.add_argument("--profile", default="smoke")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    dev = sub.choices["developer"]
    dev.add_argument("--strategy", choices=("erm", "unl", "orth", "orth_shift", "orth_olora"), default="erm")
    dev.add_argument("--sensitive", default=None, help="the auditor's sensitive-adapter folder (unl, orth*)")
    dev.add_argument("--private", default=None, help="folder for the developer's private head")
    sub.choices["auditor-adversary"].add_argument("--adapter", required=True, help="the developer's adapter folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..config import get_profile
    from ..models import LoraSpec
    from .privacy_roles import AuditorView, DeveloperView, check_exchange
    from .privacy_strategies import ORTH_VARIANTS, Auditor, Developer, backbone_factory

    profile = get_profile(args.profile)
    cfg = profile.privacy
    if cfg.cpu_threads:
        import torch

        torch.set_num_threads(cfg.cpu_threads)
    lora = LoraSpec(r=cfg.rank, alpha=cfg.alpha)
    backbone = backbone_factory(cfg.backbone, stand_in_vit=profile.stand_in_vit)
    summary: dict = {"role": args.role}
    if args.role == "developer":
        view = DeveloperView.load(args.data)
        orth = args.strategy in ORTH_VARIANTS
        if (args.strategy == "unl" or orth) and not args.sensitive:
            raise SystemExit(f"strategy {args.strategy} needs --sensitive <the auditor's adapter folder>")
        developer = Developer(view, backbone=backbone(), lora=lora, lr=cfg.lr, batch_size=cfg.batch_size,
                              seed=args.seed, unlearn_from=args.sensitive if args.strategy == "unl" else None,
                              unlearn_scale=cfg.unlearn_scale,
                              orthogonal_to=args.sensitive if orth else None,
                              orth_space=ORTH_VARIANTS.get(args.strategy, ORTH_VARIANTS["orth"]),
                              orth_components=cfg.orth_components)
        losses = [developer.train_epoch(orth_lambda=cfg.orth_lambda if orth else 0.0)
                  for _ in range(args.epochs or cfg.epochs)]
        developer.train_epoch(head_only=True)  # the same closing head-only epoch as run_strategy's
        developer.export_adapter(args.out)
        if args.private:
            from safetensors.torch import save_file

            Path(args.private).mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in developer.head.state_dict().items()},
                      str(Path(args.private) / "head.safetensors"))
        summary.update(strategy=args.strategy, epoch_losses=losses, examples=len(view))
    else:
        view = AuditorView.load(args.data)
        auditor = Auditor(view, backbone=backbone(), lora=lora, lr=cfg.lr, batch_size=cfg.batch_size, seed=args.seed)
        if args.role == "auditor-sensitive":
            signals = auditor.train_sensitive_adapter(epochs=args.epochs or cfg.auditor_epochs)
            auditor.export_sensitive_adapter(args.out, **signals)
        else:
            signals = auditor.adversarial_round(args.adapter, args.out, lam=cfg.adv_lambda, lr=cfg.adv_lr,
                                                refit_epochs=args.epochs or cfg.adv_refit_epochs)
        summary.update(signals=signals, examples=len(view))
    summary["exchange"] = check_exchange(args.out)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
