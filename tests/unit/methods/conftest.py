import pytest

from xshot.data.examples import NERExample, NLIExample

NLI = [
    NLIExample("a man is playing a guitar .", "a man plays music .", "entailment"),
    NLIExample("the cat sleeps .", "the dog barks .", "neutral"),
    NLIExample("it is raining .", "the sun is shining .", "contradiction"),
    NLIExample("kids play .", "children are playing .", "entailment"),
    NLIExample("the dog barks .", "the cat sleeps .", "neutral"),
    NLIExample("the sun is shining .", "it is raining .", "contradiction"),
]
NER = [
    NERExample(("barack", "obama", "visited", "paris", "in", "may", "."), ("B-PER", "I-PER", "O", "B-LOC", "O", "B-DATE", "O")),
    NERExample(("the", "un", "met", "john", "smith", "."), ("O", "B-ORG", "O", "B-PER", "I-PER", "O")),
    NERExample(("london", "and", "paris", "."), ("B-LOC", "O", "B-LOC", "O")),
]
TYPES = ("DATE", "LOC", "ORG", "PER")


@pytest.fixture
def nli_examples():
    return list(NLI)


@pytest.fixture
def ner_examples():
    return list(NER)
