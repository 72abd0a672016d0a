"""Run an objective exported by anchorgrad (ag.exportTorch / `anchorgrad export`)
inside TRL's DPOTrainer, on as many GPUs as accelerate/DeepSpeed give it.

    from acpo_loss import acpo_loss               # written by: npx anchorgrad export --objective acpo --out acpo_loss.py
    from anchorgrad_trl import anchorgrad_dpo_trainer
    Trainer = anchorgrad_dpo_trainer(acpo_loss)   # a DPOTrainer subclass
    trainer = Trainer(model=model, ref_model=None, args=DPOConfig(...), train_dataset=ds, processing_class=processor)

The subclass follows TRL's customization guide: on TRL main it overrides
`compute_loss`, on v0.25 `dpo_loss`. Either way the exported function gets
the per-sequence log-prob sums over the completion mask and the completion
lengths (token counts), and its metrics are logged under their own names.

What has been run: `completion_sums` and `exported_loss` on torch with a
stand-in for concatenated_forward's output (test/python/anchorgrad_trl.test.ts).
What has not: the trainer subclass itself, because TRL cannot be installed
where anchorgrad is tested (docs/scale-out.md).
"""
import torch


def completion_sums(logits, labels, completion_mask):
    """Per-sequence log-prob sums over the completion tokens, and their counts.

    logits [N, T, V] predict labels [N, T] (already shifted: logits[:, t] scores
    labels[:, t]); completion_mask [N, T] is 1 on completion tokens. Returns
    (logps [N], lengths [N]) with the log-softmax in float32 or wider, as TRL does.
    """
    mask = completion_mask.bool()
    labels = torch.where(mask, labels, torch.zeros_like(labels))
    logp = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=-1)
    per_token = torch.gather(logp, 2, labels.unsqueeze(-1)).squeeze(-1)
    return (per_token * mask).sum(-1), mask.sum(-1)


def exported_loss(fn, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths, **extra):
    """Call an exported objective on [B] sums; returns (loss, metrics as floats)."""
    loss, metrics = fn(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths, **extra
    )
    return loss, {k: float(v.detach()) for k, v in metrics.items()}


def split_pairs(logps, lengths):
    """concatenated_forward stacks chosen then rejected: split [2B] into two [B] halves."""
    b = logps.shape[0] // 2
    return logps[:b], logps[b:], lengths[:b], lengths[b:]


def anchorgrad_dpo_trainer(fn, base=None):
    """A DPOTrainer subclass whose loss is the exported function `fn` (TRL imported here, lazily)."""
    if base is None:
        from trl import DPOTrainer as base  # noqa: N813
    import trl

    main = not trl.__version__.startswith("0.")

    class AnchorgradDPOTrainer(base):
        def _lengths(self, batch):
            # the completion tokens per sequence, chosen then rejected, as concatenated_forward orders them
            mask = batch["completion_attention_mask"] if "completion_attention_mask" in batch else torch.cat(
                [batch["chosen_attention_mask"], batch["rejected_attention_mask"]]
            )
            return mask.sum(-1)

        if main:

            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                out = self.concatenated_forward(model, inputs)
                ref_c, ref_r = self.compute_ref_log_probs(inputs)
                lengths = self._lengths(inputs)
                b = out["chosen_logps"].shape[0]
                loss, metrics = exported_loss(
                    fn, out["chosen_logps"], out["rejected_logps"], ref_c, ref_r, lengths[:b], lengths[b:]
                )
                mode = "train" if self.model.training else "eval"
                for k, v in metrics.items():
                    self._metrics[mode][k].append(v)
                return (loss, metrics) if return_outputs else loss

        else:

            def dpo_loss(self, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, loss_type="sigmoid", model_output=None):
                lengths = model_output["anchorgrad_lengths"]
                b = chosen_logps.shape[0]
                loss, metrics = exported_loss(
                    fn, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, lengths[:b], lengths[b:]
                )
                self.store_metrics(metrics, train_eval="train" if self.model.training else "eval")
                # dpo_loss returns per-pair losses and rewards; the exported loss is already the batch mean
                zeros = torch.zeros_like(chosen_logps)
                return loss.expand(b), zeros, zeros

            def concatenated_forward(self, model, batch, *args, **kwargs):
                out = super().concatenated_forward(model, batch, *args, **kwargs)
                out["anchorgrad_lengths"] = self._lengths(batch)
                return out

    return AnchorgradDPOTrainer
