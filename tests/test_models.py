"""Vocabulary ids: BERT's uncased special tokens, and the fallbacks of a vocabulary too small to hold them."""

import pytest
from transformers import BertConfig, BertModel

from fcabench.counting import dynamic
from fcabench.encoders import CLS_ID, MASK_ID, SEP_ID, SPECIAL_IDS, UNK_ID, vocab_ids
from fcabench.models import synthetic_batch


def test_uncased_bert_special_ids():
    assert (UNK_ID, CLS_ID, SEP_ID, MASK_ID) == (100, 101, 102, 103)  # bert-base-uncased's vocab.txt
    assert set(SPECIAL_IDS) == {100, 101, 102, 103}


@pytest.mark.parametrize("vocab, expected", [(30522, (101, 102, 103)), (99, (1, 2, 98)), (103, (101, 102, 102))])
def test_each_id_falls_back_only_when_the_vocabulary_lacks_it(vocab, expected):
    ids = vocab_ids(vocab)
    assert (ids.cls, ids.sep, ids.mask) == expected


@pytest.mark.parametrize("vocab", [99, 200])
def test_generated_inputs_start_with_cls_and_end_with_sep(vocab):
    model = BertModel(
        BertConfig(vocab_size=vocab, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    )
    ids = vocab_ids(vocab)
    assert synthetic_batch(model, 6)["input_ids"][0, 0].item() == ids.cls
    row = dynamic.inputs_from_lengths(model, [5])[0]
    assert (row[0], row[-1]) == (ids.cls, ids.sep)


def test_a_named_model_loads_wherever_a_model_is_taken(minilm_path):
    """One registry of models (fcabench.models): presets, named models shipped in wheels, folders."""
    from fcabench.models import NAMED, load_model, resolve

    assert "minilm-l6" in NAMED and resolve("minilm-l6") == str(minilm_path) and resolve("bert-base") == "bert-base"
    model = load_model("minilm-l6")
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
