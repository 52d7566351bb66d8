"""The comments' sentiment classifier: `wishes comments evaluate` (issue 20, item 7)."""

import json

from wishes.questionnaires import sentiment


def test_evaluate_scores_any_labelled_csv_as_json(runner, tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text(
        "text,label\n"
        "护士态度特别好，谢谢你们,positive\n"
        "排队两个小时没人管，太差了,negative\n"
        "停车场什么时候开门,neutral\n"
        "醫生好有耐心，多謝,positive\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["comments", "evaluate", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert set(scores) == {"n", "accuracy", "macro_f1"} and scores["n"] == 4
    assert scores["accuracy"] >= 0.75  # plain cases: at most one missed


def test_a_row_with_another_label_is_named(runner, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("text,label\n很好,positive\n一般般,so-so\n", encoding="utf-8")
    result = runner.invoke(args=["comments", "evaluate", "--data", str(data), "--json"])
    assert result.exit_code != 0
    assert "row 3" in result.output and "so-so" in result.output


def test_the_held_out_comments_are_read_as_the_docs_say():
    """docs/comments.md reports these figures; at least 0.85 accuracy is the target."""
    scores = sentiment.score(sentiment.bundled(), sentiment.labelled(sentiment.HELDOUT_FILE))
    assert scores["n"] == 448
    assert scores["accuracy"] >= 0.85 and scores["macro_f1"] >= 0.85


def test_the_held_out_comments_were_never_trained_on():
    training = {text for text, _ in sentiment.labelled(sentiment.TRAINING_FILE)}
    heldout = {text for text, _ in sentiment.labelled(sentiment.HELDOUT_FILE)}
    assert not training & heldout
