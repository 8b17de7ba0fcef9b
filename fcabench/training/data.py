"""Task splits as token ids: truncated to the run's length, padded per batch by the collator."""

from __future__ import annotations


def tokenize(split, tokenizer, seq_len: int):
    """The split's Dataset with ``input_ids``, ``attention_mask``, ``token_type_ids`` and ``labels``.

    Inputs are truncated to ``seq_len`` tokens ([CLS] and [SEP] included; pairs: longest first) and
    padded later, per batch, by :func:`collator`.
    """
    dataset = split.dataset
    pair = "text_pair" in dataset.column_names

    def encode(batch):
        encoded = tokenizer(batch["text"], batch["text_pair"] if pair else None, truncation=True, max_length=seq_len)
        encoded["labels"] = batch["label"]
        return encoded

    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # tokenising takes seconds; the training bar is the one that matters
    try:
        return dataset.map(
            encode, batched=True, remove_columns=dataset.column_names, load_from_cache_file=False, keep_in_memory=True
        )
    finally:
        if shown:
            datasets.enable_progress_bars()


def collator(tokenizer, seq_len: int):
    """Batches padded to ``seq_len``: the fixed length N that PoWER-BERT's and FCA's retention counts and
    soft-extract weights refer to, and the length scoring pads to."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, padding="max_length", max_length=seq_len)


def input_ids(encoded) -> list[list[int]]:
    """Token ids per example, unpadded, for the per-example MAC count."""
    return [list(ids) for ids in encoded["input_ids"]]
