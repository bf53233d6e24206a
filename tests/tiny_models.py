"""Tiny random models and tokenizers of every registered architecture, built locally.

No model hub is reachable from our machines, so each architecture is exercised through a model
built from its `transformers` config class with tiny sizes (hidden 32, 2 layers, 2 heads) and a
tokenizer trained here with the `tokenizers` library on a small corpus: WordPiece (BERT,
DistilBERT, ELECTRA, MPNet), byte-level BPE (RoBERTa, ModernBERT) and Unigram, SentencePiece
style (XLM-RoBERTa, DeBERTa-v3, T5), each with the model's own special tokens and pad id. The
folders are ordinary Hugging Face folders (`save_pretrained`), so the exporter takes exactly the
code path a downloaded model takes.

Example:
    >>> folder = build_tiny_model("roberta", "classify", tmp_path / "roberta_cls")  # doctest: +SKIP
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
    ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Tiny sizes shared by every architecture; the exported graphs run in milliseconds.
HIDDEN = 32
LAYERS = 2
HEADS = 2
INTERMEDIATE = 37
#: Token limit of the tiny models (positions beyond it do not exist): the long reference text
#: is truncated, so truncation is exercised too.
POSITIONS = 64
INIT_RANGE = 0.2

#: Labels of the tiny classifiers (three, so softmax and sigmoid differ visibly).
CLASSIFY_LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class TinyArchitecture:
    """How to build one architecture's tiny model and tokenizer."""

    model_type: str
    tokenizer: Callable[[list[str]], Any]  # corpus -> a fast `transformers` tokenizer
    config: Callable[[Any], Any]  # fast tokenizer -> a `transformers` config
    tasks: tuple[str, ...] = ("embed", "classify", "rerank")


@functools.lru_cache(maxsize=1)
def _corpus() -> list[str]:
    """Text to train the tiny tokenizers on: the export's reference texts plus a news corpus."""
    import gensim.test.utils as gensim_test

    from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS

    news = Path(gensim_test.datapath("lee_background.cor")).read_text(encoding="utf-8", errors="replace")
    return list(REFERENCE_TEXTS) + news.splitlines()


# -- tokenizers ----------------------------------------------------------------------------


def _template(tokenizer: Any, single: str, pair: str, specials: Iterable[str]) -> None:
    from tokenizers import processors

    tokenizer.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(t, tokenizer.token_to_id(t)) for t in specials]
    )


def _wordpiece(corpus: list[str], specials: list[str], unk: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
    return tokenizer


def _byte_bpe(corpus: list[str], specials: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


def _unigram(corpus: list[str], specials: list[str], unk: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token=unk)
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


def _bert_wordpiece(fast_class: str) -> Callable[[list[str]], Any]:
    """WordPiece with [CLS]/[SEP] and token types (BERT, DistilBERT, ELECTRA)."""

    def build(corpus: list[str]) -> Any:
        import transformers

        tokenizer = _wordpiece(corpus, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[UNK]")
        _template(tokenizer, "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1", ["[CLS]", "[SEP]"])
        return getattr(transformers, fast_class)(
            tokenizer_object=tokenizer,
            unk_token="[UNK]",
            sep_token="[SEP]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            mask_token="[MASK]",
        )

    return build


def mpnet_tokenizer(corpus: list[str]) -> Any:
    """WordPiece with RoBERTa-style <s>/</s> specials and pad id 1 (MPNet)."""
    from transformers import MPNetTokenizerFast

    tokenizer = _wordpiece(corpus, ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"], "[UNK]")
    _template(tokenizer, "<s> $A </s>", "<s> $A </s> </s> $B </s>", ["<s>", "</s>"])
    return MPNetTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="[UNK]",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def roberta_tokenizer(corpus: list[str]) -> Any:
    """Byte-level BPE with <s>/</s> and pad id 1 (RoBERTa)."""
    from tokenizers import processors
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = _byte_bpe(corpus, specials)
    tokenizer.post_processor = processors.RobertaProcessing(sep=("</s>", 2), cls=("<s>", 0), add_prefix_space=False)
    return RobertaTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        add_prefix_space=False,
    )


def modernbert_tokenizer(corpus: list[str]) -> Any:
    """Byte-level BPE with [CLS]/[SEP] and a pad id that is not 0 (ModernBERT)."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = _byte_bpe(corpus, ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])
    _template(tokenizer, "[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]", ["[CLS]", "[SEP]"])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "attention_mask"],
    )


def xlm_roberta_tokenizer(corpus: list[str]) -> Any:
    """SentencePiece-style Unigram with <s>/</s> and pad id 1 (XLM-RoBERTa)."""
    from transformers import XLMRobertaTokenizerFast

    tokenizer = _unigram(corpus, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")
    _template(tokenizer, "<s> $A </s>", "<s> $A </s> </s> $B </s>", ["<s>", "</s>"])
    return XLMRobertaTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def deberta_v3_tokenizer(corpus: list[str]) -> Any:
    """SentencePiece-style Unigram with [CLS]/[SEP] (DeBERTa-v3)."""
    from transformers import DebertaV2TokenizerFast

    tokenizer = _unigram(corpus, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], "[UNK]")
    _template(tokenizer, "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1", ["[CLS]", "[SEP]"])
    return DebertaV2TokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="[CLS]",
        eos_token="[SEP]",
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )


def t5_tokenizer(corpus: list[str]) -> Any:
    """SentencePiece-style Unigram that appends </s>, pad id 0 (T5)."""
    from transformers import T5TokenizerFast

    tokenizer = _unigram(corpus, ["<pad>", "</s>", "<unk>"], "<unk>")
    _template(tokenizer, "$A </s>", "$A </s> $B </s>", ["</s>"])
    return T5TokenizerFast(
        tokenizer_object=tokenizer, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0
    )


@functools.cache
def _tokenizer(model_type: str) -> Any:
    """One trained tokenizer per architecture (training a Unigram model takes seconds)."""
    return ARCHITECTURES[model_type].tokenizer(_corpus())


# -- configs -------------------------------------------------------------------------------


def _ids(tokenizer: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        # Ten times the usual init spread: with the default, a tiny random model maps every
        # text to nearly the same vector, and comparisons against PyTorch would prove little.
        "initializer_range": INIT_RANGE,
    }


def _bert_like(config_class: str, **extra: Any) -> Callable[[Any], Any]:
    def build(tokenizer: Any) -> Any:
        import transformers

        return getattr(transformers, config_class)(
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=POSITIONS,
            **_ids(tokenizer),
            **extra,
        )

    return build


def _padded_positions(config_class: str) -> Callable[[Any], Any]:
    """RoBERTa-style models number positions from pad_token_id + 1: reserve those slots."""

    def build(tokenizer: Any) -> Any:
        import transformers

        return getattr(transformers, config_class)(
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=POSITIONS + tokenizer.pad_token_id + 1,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            **_ids(tokenizer),
        )

    return build


def _distilbert(tokenizer: Any) -> Any:
    from transformers import DistilBertConfig

    return DistilBertConfig(
        dim=HIDDEN,
        n_layers=LAYERS,
        n_heads=HEADS,
        hidden_dim=INTERMEDIATE,
        max_position_embeddings=POSITIONS,
        **_ids(tokenizer),
    )


def _electra(tokenizer: Any) -> Any:
    from transformers import ElectraConfig

    return ElectraConfig(
        embedding_size=HIDDEN,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=POSITIONS,
        **_ids(tokenizer),
    )


def _deberta_v3(tokenizer: Any) -> Any:
    from transformers import DebertaV2Config

    # DeBERTa-v3's shape: relative attention with position buckets, no absolute positions,
    # no token types (so the exported graph takes no token_type_ids).
    return DebertaV2Config(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=POSITIONS,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        type_vocab_size=0,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        **_ids(tokenizer),
    )


def _modernbert(tokenizer: Any) -> Any:
    from transformers import ModernBertConfig

    return ModernBertConfig(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=POSITIONS,
        global_attn_every_n_layers=2,
        local_attention=16,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        attn_implementation="eager",
        **_ids(tokenizer),
    )


def _t5(tokenizer: Any) -> Any:
    from transformers import T5Config

    return T5Config(
        d_model=HIDDEN,
        d_kv=HIDDEN // HEADS,
        d_ff=INTERMEDIATE,
        num_layers=LAYERS,
        num_heads=HEADS,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        decoder_start_token_id=0,
        eos_token_id=tokenizer.eos_token_id,
        **_ids(tokenizer),
    )


ARCHITECTURES: dict[str, TinyArchitecture] = {
    arch.model_type: arch
    for arch in (
        TinyArchitecture("bert", _bert_wordpiece("BertTokenizerFast"), _bert_like("BertConfig")),
        TinyArchitecture("distilbert", _bert_wordpiece("DistilBertTokenizerFast"), _distilbert),
        TinyArchitecture("electra", _bert_wordpiece("ElectraTokenizerFast"), _electra),
        TinyArchitecture("roberta", roberta_tokenizer, _padded_positions("RobertaConfig")),
        TinyArchitecture("xlm-roberta", xlm_roberta_tokenizer, _padded_positions("XLMRobertaConfig")),
        TinyArchitecture("mpnet", mpnet_tokenizer, _padded_positions("MPNetConfig")),
        TinyArchitecture("deberta-v2", deberta_v3_tokenizer, _deberta_v3),
        TinyArchitecture("modernbert", modernbert_tokenizer, _modernbert),
        # T5 serves embeddings through its encoder alone (T5EncoderModel).
        TinyArchitecture("t5", t5_tokenizer, _t5, tasks=("embed",)),
    )
}


@dataclass(frozen=True)
class TinyCase:
    """One tiny model to export and serve: an architecture, a task and a variant of its head."""

    model_type: str
    task: str
    #: "st_<mode>" (embed: a sentence-transformers folder with that pooling and 2_Normalize),
    #: "multi_label" (classify: sigmoid), "two_labels" (rerank: a declared two-label cross-encoder)
    variant: str = ""

    @property
    def name(self) -> str:
        """The served model name."""
        parts = ["tiny", self.model_type.replace("-", "_"), self.task, self.variant]
        return "_".join(p for p in parts if p)

    def build(self, folder: Path) -> Path:
        return build_tiny_model(self.model_type, self.task, folder, variant=self.variant)


#: Every architecture with every task it is registered for, plus the two head variants. The
#: architecture meta-test checks this list against the exporter's registry.
CASES: tuple[TinyCase, ...] = (
    *(TinyCase(arch.model_type, task) for arch in ARCHITECTURES.values() for task in arch.tasks),
    TinyCase("xlm-roberta", "embed", "st_cls"),  # bge-m3's recipe
    TinyCase("mpnet", "embed", "st_max"),
    TinyCase("t5", "embed", "st_lasttoken"),
    TinyCase("deberta-v2", "classify", "multi_label"),
    TinyCase("electra", "rerank", "two_labels"),
)


def build_tiny_model(model_type: str, task: str, folder: Path, *, variant: str = "", seed: int = 0) -> Path:
    """Save a tiny random `model_type` model for `task` (embed|classify|rerank) into `folder`.

    embed: the bare encoder (`*Model`), or with variant "st_<mode>" a sentence-transformers
    folder (Transformer, Pooling with that mode, Normalize); classify: `*ForSequenceClassification` with three
    labels (independent sigmoids with variant "multi_label"); rerank:
    `*ForSequenceClassification` with one label, or with two and the `sentence_transformers`
    section a CrossEncoder writes (variant "two_labels").
    """
    import torch
    import transformers

    arch = ARCHITECTURES[model_type]
    if task not in arch.tasks:
        raise ValueError(f"{model_type} has no tiny {task} model")
    tokenizer = _tokenizer(model_type)
    config = arch.config(tokenizer)
    if task == "classify":
        config.num_labels = len(CLASSIFY_LABELS)
        config.id2label = dict(enumerate(CLASSIFY_LABELS))
        config.label2id = {label: i for i, label in enumerate(CLASSIFY_LABELS)}
        if variant == "multi_label":
            config.problem_type = "multi_label_classification"
    elif task == "rerank":
        config.num_labels = 2 if variant == "two_labels" else 1
        if variant == "two_labels":
            config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    torch.manual_seed(seed)
    if task == "embed":
        # AutoModel would build T5's encoder-decoder; embeddings need its encoder alone.
        model = (
            transformers.T5EncoderModel(config) if model_type == "t5" else transformers.AutoModel.from_config(config)
        )
    else:
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    model.eval()
    if task != "embed":
        _spread_logits(model, tokenizer, _corpus()[:64])
    if variant.startswith("st_"):
        return _save_sentence_transformer(model, tokenizer, folder, pooling_mode=variant.removeprefix("st_"))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _save_sentence_transformer(model: Any, tokenizer: Any, folder: Path, *, pooling_mode: str) -> Path:
    """Wrap the bare encoder the way sentence-transformers saves an embedder."""
    import tempfile

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    with tempfile.TemporaryDirectory(prefix="tiny-hf-") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        transformer = Transformer(tmp, max_seq_length=POSITIONS)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling_mode)
        SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu").save(str(folder))
    return folder


def _spread_logits(model: Any, tokenizer: Any, texts: list[str], target_std: float = 3.0) -> None:
    """Rescale the classifier's output layer so that logits vary across texts (std ~3, centred).

    A random tiny model maps every text to nearly the same logits; near-constant outputs would
    let a wrong graph pass a 1e-4 tolerance, and saturated ones would hide errors in sigmoid.
    """
    import torch

    output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=POSITIONS, return_tensors="pt")
        logits = model(**batch).logits  # [texts, labels]
        scale = target_std / max(float(logits.std(dim=0).mean()), 1e-6)
        # new logits = scale * (old - mean over texts) + one small offset per label
        offsets = torch.linspace(-1.0, 1.0, logits.shape[1]) if logits.shape[1] > 1 else torch.zeros(1)
        output_layer.weight.mul_(scale)
        bias = output_layer.bias if output_layer.bias is not None else torch.zeros(logits.shape[1])
        new_bias = scale * (bias - logits.mean(dim=0)) + offsets
        if output_layer.bias is None:
            output_layer.bias = torch.nn.Parameter(new_bias)
        else:
            output_layer.bias.copy_(new_bias)


def build_tiny_bge_m3(folder: Path, *, seed: int = 0) -> Path:
    """A bge-m3-style folder, as BAAI/bge-m3 ships: a tiny XLM-R sentence-transformers embedder
    (CLS pooling, Normalize) with `sparse_linear.pt` (Linear(hidden, 1)) and `colbert_linear.pt`
    (Linear(hidden, hidden)) beside its weights, random like the rest."""
    import torch

    build_tiny_model("xlm-roberta", "embed", folder, variant="st_cls", seed=seed)
    torch.manual_seed(seed + 1)
    sparse = torch.nn.Linear(HIDDEN, 1)
    with torch.no_grad():  # weights of order 1, like the real head's: a 1e-4 bound then means something
        sparse.weight.mul_(8.0)
    torch.save(sparse.state_dict(), folder / "sparse_linear.pt")
    torch.save(torch.nn.Linear(HIDDEN, HIDDEN).state_dict(), folder / "colbert_linear.pt")
    return folder
