import csv
import gc
import json
import random

import pytest

from wishes import audit, create_app, create_serving_app, lifecycle, needs
from wishes.lifecycle import Actor, WishEntry
from wishes.organisation import store as organisation
from wishes.routing import Router, artifacts, text, training
from wishes.storage import connect, database_path

FRUIT = "苹果 香蕉 葡萄 西瓜 橘子 草莓 芒果 桃子".split()
VEHICLE = "汽车 火车 飞机 轮船 单车 地铁 公交 卡车".split()
WEATHER = "下雨 晴天 刮风 下雪 打雷 多云 雾霾 冰雹".split()
FILLER = "今天 我想 看到 很多 一些 喜欢 关于 明天".split()


def generated(
    path,
    rows_per_label,
    seed,
    labels=(("fruit", FRUIT), ("vehicle", VEHICLE), ("weather", WEATHER)),
    extra=(),
):
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for label, words in labels:
            for i in range(rows_per_label):
                sentence = (
                    rng.choice(FILLER) + rng.choice(words) + rng.choice(FILLER) + rng.choice(words)
                )
                writer.writerow([i, sentence, label])
        for row in extra:
            writer.writerow(["x", *row])
    return path


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """The bundled router, trained once for this module."""
    models = tmp_path_factory.mktemp("models")
    heldout = training.read_examples(training.bundled_file(training.BUNDLED_HELDOUT))
    corpus = training.read_examples(training.bundled_file(training.BUNDLED_CORPUS))
    run = training.train(models, {"bundled corpus": corpus}, heldout)
    assert run.activated
    return models


def routed_app(tmp_path, models, threshold):
    config = {"TESTING": True, "WISHES_DATA_DIR": str(tmp_path / "data")}
    app = create_app(
        {**config, "WISHES_MODELS_DIR": str(models), "WISHES_ROUTER_THRESHOLD": threshold}
    )
    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    return app


def test_traditional_full_width_and_simplified_read_the_same():
    simplified = text.normalise("希望病房有热水可以洗澡 B超")
    assert text.normalise("希望病房有熱水可以洗澡 Ｂ超") == simplified
    assert text.normalise("希望病房有熱水可以洗澡😊 B超\u200b") == simplified


def test_traditional_and_simplified_wishes_go_to_the_same_branch(trained_models):
    router = Router(trained_models, threshold=0.5)
    for simplified, traditional in [
        ("请问检查报告什么时候可以拿", "請問檢查報告什麼時候可以拿"),
        ("想给住院的孩子过个生日", "想給住院的孩子過個生日"),
        ("医保报销需要准备哪些材料", "醫保報銷需要準備哪些材料"),
    ]:
        assert (
            router.route(simplified).suggestions[0][0]
            == router.route(traditional).suggestions[0][0]
        )


def test_route_gives_top_three_with_probabilities_and_tags(trained_models):
    decision = Router(trained_models, threshold=0.5).route("护士站能不能放个吹风机，洗完头没法吹")
    assert decision.suggestions[0][0] == decision.category == "daily_items"
    assert len(decision.suggestions) == 3
    probabilities = [p for _, p in decision.suggestions]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
    assert 1 <= len(decision.tags) <= 5 and "吹风机" in decision.tags


def test_model_round_trip_through_the_safe_format(tmp_path, trained_models):
    version = artifacts.active_version(trained_models)
    model = artifacts.load(trained_models, version)
    meta = json.loads((trained_models / version / "metadata.json").read_text())
    assert meta["labels"] == model.labels and set(meta["labels"]) == set(needs.codes())
    assert meta["training"]["sha256"] and meta["training"]["size"] > 4000
    assert (trained_models / version / "model.skops").stat().st_size < 5 * 1024 * 1024
    assert meta["libraries"]["scikit-learn"] and meta["metrics"]["accuracy"] > 0.8
    assert not list(trained_models.glob("**/*.pkl")) and not list(
        trained_models.glob("**/*.joblib")
    )


def test_a_loaded_model_scores_a_wish_without_copying_its_weights(trained_models):
    """The SVM's weights come back from the safe format in the order that lets a wish's scores
    be one product with them (scipy copied the whole matrix for every wish otherwise), and the
    scores are the SVM's own."""
    model = artifacts.load(trained_models, artifacts.active_version(trained_models))
    classifier = model.pipeline.named_steps["classifier"]
    assert classifier.svm_.coef_.T.flags.c_contiguous
    features = model.pipeline.named_steps["features"].transform(["晚上病房太冷睡不着", "想借轮椅"])
    ours = classifier.decision_function(features)
    assert abs(ours - classifier.svm_.decision_function(features)).max() < 1e-5


def test_model_from_other_library_versions_is_refused(tmp_path, trained_models):
    version = artifacts.active_version(trained_models)
    copy = tmp_path / "models"
    (copy / version).mkdir(parents=True)
    (copy / version / "model.skops").write_bytes(
        (trained_models / version / "model.skops").read_bytes()
    )
    meta = json.loads((trained_models / version / "metadata.json").read_text())
    meta["libraries"]["scikit-learn"] = "0.24.0"
    (copy / version / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(artifacts.ModelError, match="scikit-learn 0.24.0"):
        artifacts.load(copy, version)
    artifacts.activate(copy, version)
    assert Router(copy, 0.5).route("想借轮椅") is None  # refused model: the wish goes to triage


def test_unsure_wish_waits_for_triage_with_its_suggestions(tmp_path, trained_models):
    app = routed_app(tmp_path, trained_models, threshold=0.999)
    client = app.test_client()
    page = client.get("/w/new").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/w/new", data={"text": "想借个充电宝", "department": "", "csrf_token": token})
    with connect(database_path(app)) as db:
        wish = next(db.query("SELECT * FROM wishes"))
    assert wish["state"] == "triage" and wish["branch_code"] is None
    assert len(json.loads(wish["router_suggestions"])) == 3
    assert wish["category"] == "daily_items" and wish["router_branch_code"] == "logistics"


def test_confident_wish_goes_straight_to_its_branch(tmp_path, trained_models):
    app = routed_app(tmp_path, trained_models, threshold=0.3)
    with app.app_context(), connect(database_path(app)) as db:
        from wishes import intake

        route, branch = intake.route_and_place(db, "想借个充电宝")
        wish = lifecycle.submit(db, WishEntry(text="想借个充电宝", channel="phone"), route, branch)
    assert wish["state"] == "open" and wish["branch_code"] == "logistics"
    assert wish["category"] == "daily_items"
    assert json.loads(wish["tags"])


def test_a_branch_that_is_no_branch_here_goes_to_triage_not_to_an_error(db):
    route = lifecycle.RouteDecision([("mobility", 0.99)], ["轮椅"], "v", True)
    wish = lifecycle.submit(db, WishEntry(text="想借轮椅", channel="kiosk"), route, "cardiology")
    assert wish["state"] == "triage" and wish["router_branch_code"] is None
    assert wish["category"] == "mobility"


def test_not_a_wish_and_a_category_the_map_leaves_out_wait_for_triage(app, db):
    with app.app_context():
        assert organisation.branch_for(db, "not_a_wish") is None
        unrouted = [r for r in organisation.routing_rows(db) if r["category"] != "parking"]
        organisation.set_routing(db, unrouted, audit.Who(label="test"))
        assert organisation.branch_for(db, "parking") is None
    hello = lifecycle.RouteDecision([("not_a_wish", 0.99)], [], "v", True)
    wish = lifecycle.submit(db, WishEntry(text="你好", channel="kiosk"), hello, "office")
    assert wish["state"] == "triage" and wish["category"] == "not_a_wish"


def test_a_department_row_of_the_map_wins_over_the_category_row(db):
    assert organisation.branch_for(db, "meals", "ward-pediatrics") == "catering"
    rows = organisation.routing_rows(db) + [
        {"category": "meals", "department_code": "ward-pediatrics", "branch_code": "pediatrics"}
    ]
    organisation.set_routing(db, rows, audit.Who(label="test"))
    assert organisation.branch_for(db, "meals", "ward-pediatrics") == "pediatrics"
    assert organisation.branch_for(db, "meals", "ward-cardiology") == "catering"
    assert organisation.branch_for(db, "meals") == "catering"


def test_triaged_and_rerouted_wishes_become_training_labels_and_win_conflicts(app, db):
    office = Actor("staff", "党建工作部")
    triaged = lifecycle.submit(db, WishEntry(text="护士姐姐人真好想表扬", channel="phone"), None)
    lifecycle.triage(db, triaged["id"], "office", office, category="praise")
    routed = lifecycle.submit(
        db,
        WishEntry(text="夜里太冷", channel="phone"),
        lifecycle.RouteDecision([("nursing_care", 0.9)], [], "v", True),
        "nursing",
    )
    lifecycle.reroute(db, routed["id"], "logistics", office, "空调归后勤", category="room_repairs")
    untouched = lifecycle.submit(
        db,
        WishEntry(text="想订餐", channel="phone"),
        lifecycle.RouteDecision([("meals", 0.9)], [], "v", True),
        "catering",
    )
    labels, waiting = lifecycle.corrected_labels(db)
    assert labels == [("护士姐姐人真好想表扬", "praise"), ("夜里太冷", "room_repairs")]
    assert waiting == 0 and untouched["text"] not in dict(labels)
    assert db["wishes"].get(routed["id"])["category"] == "room_repairs"
    merged = dict(training.merge([("夜里太冷", "nursing_care"), ("想订餐", "meals")], labels))
    assert merged["夜里太冷"] == "room_repairs"
    # one account's corrections beyond the weekly number wait for the office's review
    assert lifecycle.corrected_labels(db, weekly_limit=1) == (labels[:1], 1)


def test_train_and_evaluate_work_for_another_label_set(tmp_path, runner):
    data = generated(tmp_path / "train.csv", 40, seed=1)
    test = generated(tmp_path / "test.csv", 10, seed=2, extra=[("今天下雨又刮风", "sky")])
    result = runner.invoke(args=["train", "--data", str(data), "--no-db", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["activated"] and report["version"]
    assert set(report["metrics"]["labels"]) == {"fruit", "vehicle", "weather"}
    result = runner.invoke(args=["evaluate", "--data", str(test), "--level", "category", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    # the row of a label the model does not know counts as an error, never left out
    assert scores["n"] == 31 and 0.87 < scores["accuracy"] <= 30 / 31
    assert scores["top3_accuracy"] == round(30 / 31, 4)
    assert scores["unknown_labels"] == {"sky": 1}
    assert {"macro_f1", "per_label", "confusion", "mean_ms", "p95_ms"} <= set(scores)
    text_report = runner.invoke(args=["evaluate", "--data", str(test), "--level", "category"])
    assert "confusion matrix" in text_report.output and "sky (1)" in text_report.output


def test_evaluate_explains_a_file_without_the_right_columns(tmp_path, runner):
    bad = tmp_path / "bad.csv"
    bad.write_text("query,intent\n你好,greeting\n", encoding="utf-8")
    runner.invoke(args=["train", "--data", str(generated(tmp_path / "t.csv", 20, 1)), "--no-db"])
    result = runner.invoke(args=["evaluate", "--data", str(bad)])
    assert result.exit_code != 0 and "needs the columns 'text' and 'label'" in result.output


def test_a_worse_model_is_not_activated_unless_forced(tmp_path):
    models = tmp_path / "models"
    good = training.read_examples(generated(tmp_path / "good.csv", 40, seed=1))
    heldout = training.read_examples(generated(tmp_path / "held.csv", 15, seed=3))
    first = training.train(models, {"files": good}, heldout)
    assert first.activated
    rng = random.Random(0)
    shuffled = [(t, rng.choice(["fruit", "vehicle", "weather"])) for t, _ in good]
    worse = training.train(models, {"files": shuffled}, heldout)
    assert not worse.activated and "kept" in worse.reason
    assert artifacts.active_version(models) == first.version
    forced = training.train(models, {"files": shuffled}, heldout, force=True)
    assert forced.activated and artifacts.active_version(models) == forced.version


def test_a_newly_activated_model_is_picked_up_without_a_restart(tmp_path):
    models = tmp_path / "models"
    heldout = training.read_examples(generated(tmp_path / "held.csv", 10, seed=3))
    router = Router(models, threshold=0.0)
    router.RECHECK_SECONDS = 0
    assert router.route("今天想吃苹果") is None
    examples = training.read_examples(generated(tmp_path / "a.csv", 30, 1))
    run = training.train(models, {"files": examples}, heldout)
    assert router.route("今天想吃苹果").model_version == run.version


def test_the_router_suggests_the_pipelines_own_top_branches(trained_models):
    """Each wish is routed to the pipeline's most probable branches, with its probabilities,
    on the held-out file and on texts that normalise to almost nothing."""
    router = Router(trained_models, threshold=0.6)
    model = router.refresh()
    texts = [t for t, _ in training.read_examples(training.bundled_file(training.BUNDLED_HELDOUT))]
    texts = texts[:50] + ["", "🙂", "   ", "ＡＢＣ１２３", "檢查報告"]
    expected = model.pipeline.predict_proba(texts)
    for wish, row in zip(texts, expected, strict=True):
        best = model.pipeline.classes_[row.argmax()]
        decision = router.route(wish)
        assert decision.suggestions[0] == (best, round(float(row.max()), 4))
        assert len(decision.suggestions) == 3
        assert decision.confident == (row.max() >= 0.6)


def test_the_serving_app_loads_jieba_before_the_workers_fork_even_without_a_router_model(
    tmp_path, monkeypatch
):
    """Search cuts words with jieba too: a worker must not load its dictionary (0.4 s) in the
    middle of its first search because no router model has been trained yet."""
    monkeypatch.setattr(text, "_tokenizer", None)
    monkeypatch.setenv("WISHES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WISHES_MODELS_DIR", str(tmp_path / "models"))
    try:
        app = create_serving_app()
    finally:
        gc.unfreeze()  # create_serving_app froze this test process's objects
    assert app.extensions["wishes.router"].model is None
    assert text._tokenizer is not None


def test_a_model_that_lost_a_label_is_not_activated(tmp_path):
    """Held-out rows of a label the new model does not know count as errors: a model that
    lost a whole label cannot pass by leaving its rows out."""
    models = tmp_path / "models"
    examples = training.read_examples(generated(tmp_path / "a.csv", 40, seed=1))
    heldout = training.read_examples(generated(tmp_path / "held.csv", 15, seed=3))
    assert training.train(models, {"files": examples}, heldout).activated
    without_weather = [(t, label) for t, label in examples if label != "weather"]
    run = training.train(models, {"files": without_weather}, heldout)
    assert not run.activated and "weather" in run.reason
    assert run.scores.unknown_labels == {"weather": 15} and run.scores.accuracy < 0.7


def test_a_model_whose_recall_falls_for_one_label_is_not_activated(tmp_path):
    """Overall accuracy may hold while one topic is moved to the wrong label by targeted
    corrections: a recall fall of more than 3 points on any label keeps the active model."""
    models = tmp_path / "models"
    examples = training.read_examples(generated(tmp_path / "a.csv", 60, seed=1))
    heldout = training.read_examples(generated(tmp_path / "held.csv", 30, seed=3))
    assert training.train(models, {"files": examples}, heldout).activated
    # every wish about grapes is taught as weather
    poisoned = [(t, "weather" if "葡萄" in t else label) for t, label in examples]
    run = training.train(models, {"files": poisoned}, heldout)
    assert not run.activated and "recall" in run.reason and "fruit" in run.reason
    meta = json.loads((models / run.version / "metadata.json").read_text())
    assert meta["decision"]["activated"] is False and meta["decision"]["reason"] == run.reason


def test_training_keeps_the_newest_five_versions_and_the_active_one(tmp_path):
    models = tmp_path / "models"
    examples = training.read_examples(generated(tmp_path / "a.csv", 20, seed=1))
    heldout = training.read_examples(generated(tmp_path / "held.csv", 5, seed=3))
    runs = [training.train(models, {"files": examples}, heldout) for _ in range(7)]
    assert set(artifacts.versions(models)) == {run.version for run in runs[-5:]}
    assert artifacts.active_version(models) == runs[-1].version


def test_route_json_gives_the_decision_category_branch_confidence_and_top3(
    tmp_path, trained_models
):
    app = routed_app(tmp_path, trained_models, threshold=0.5)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["route", "护士站能不能借个吹风机", "--json"])
    assert result.exit_code == 0, result.output
    routed = json.loads(result.stdout)
    assert routed["decision"] == "route" and routed["category"] == "daily_items"
    assert routed["branch"] == "logistics" and routed["confidence"] >= 0.5
    assert [row["category"] for row in routed["top3"]][0] == "daily_items"
    assert len(routed["top3"]) == 3
    hello = json.loads(runner.invoke(args=["route", "你好你好", "--json"]).stdout)
    assert hello["decision"] == "triage" and hello["branch"] is None
    assert hello["category"] == "not_a_wish"


def test_evaluate_scores_branches_through_the_routing_map(tmp_path, trained_models):
    app = routed_app(tmp_path, trained_models, threshold=0.5)
    data = tmp_path / "branches.csv"
    data.write_text(
        "text,label\n想借个吹风机,logistics\n病房空调坏了,logistics\n想订一份午饭,catering\n",
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["evaluate", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["level"] == "branch" and scores["n"] == 3 and scores["accuracy"] == 1.0
    assert {"accuracy", "top3_accuracy", "macro_f1", "n"} <= set(scores)


def test_tags_are_nouns_and_verb_object_phrases_never_filler(trained_models):
    router = Router(trained_models, threshold=0.5)
    filler = "过个 有个 一个月 帮个 de 不能 哪个".split()
    for wish in ("想过个生日，有个一个月大的宝宝", "帮个忙 de 不能 哪个", "能不能帮个忙"):
        assert not set(router.route(wish).tags) & set(filler), wish
    assert "借轮椅" in router.route("想借轮椅推老人去做检查").tags
    assert {"空调", "病房"} <= set(router.route("病房空调不制冷，晚上太热睡不着").tags)


def test_categorise_gives_older_wishes_a_category_and_keeps_the_ones_people_gave(
    tmp_path, trained_models
):
    app = routed_app(tmp_path, trained_models, threshold=0.5)
    with connect(database_path(app)) as db:
        older = [
            lifecycle.submit(db, WishEntry(text=text, channel="phone"), None)["id"]
            for text in ("想借个吹风机", "病房空调坏了", "想订一份午饭")
        ]
        lifecycle.triage(db, older[2], "logistics", Actor("staff", "党建办"), category="parking")
    result = app.test_cli_runner().invoke(args=["categorise", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "2 wishes now have a category" in result.output
    with connect(database_path(app)) as db:
        found = [db["wishes"].get(wish_id)["category"] for wish_id in older]
    assert found == ["daily_items", "room_repairs", "parking"]
    again = app.test_cli_runner().invoke(args=["categorise"])
    assert "every wish has a category" in again.output


def test_the_routers_calibration_gives_scikit_learns_probabilities(tmp_path):
    """SigmoidSVC applies the sigmoids of every label at once; the probabilities must be those
    of scikit-learn's CalibratedClassifierCV, which applies them one label at a time."""
    examples = training.read_examples(generated(tmp_path / "a.csv", 40, seed=1))
    texts = [t for t, _ in training.read_examples(generated(tmp_path / "b.csv", 10, seed=2))]
    ours = training.fit(examples, "words+chars-svm-calibrated").predict_proba(texts)
    theirs = training.fit(examples, "words+chars-svm-sigmoid").predict_proba(texts)
    assert abs(ours - theirs).max() < 1e-4


def test_a_new_dictionary_cuts_stored_wishes_again_so_search_still_finds_them(app, db):
    """Stored search words were cut with the old dictionary; once the words change, the
    serving app cuts every wish again, or a query would be cut one way and the wish another."""
    from wishes import search

    wish = lifecycle.submit(db, WishEntry(text="想借个吹风机", channel="phone"), None)
    db.execute("UPDATE wishes SET search_text = '想借个吹 风机' WHERE id = ?", [wish["id"]])
    db.execute("PRAGMA user_version = 1")
    assert search.reindex_if_needed(db) == 1
    assert "吹风机" in db["wishes"].get(wish["id"])["search_text"].split()
    assert db.execute("PRAGMA user_version").fetchone()[0] == text.WORDS_VERSION
    assert search.reindex_if_needed(db) == 0


def test_a_new_database_holds_the_current_words_and_an_old_one_is_cut_again(tmp_path):
    from wishes.storage import migrations

    with connect(tmp_path / "new.db") as db:
        migrations.apply(db)
        assert db.execute("PRAGMA user_version").fetchone()[0] == text.WORDS_VERSION
    with connect(tmp_path / "old.db") as db:
        migrations.apply(db, stop_before="0020_search_words_version")
        wish = {"text": "想借个吹风机", "tracking_code": "ABCDEFG", "state": "triage"}
        at = {"created_at": "2026-01-01 00:00:00", "updated_at": "2026-01-01 00:00:00"}
        db["wishes"].insert({**wish, **at, "channel": "phone"})
        migrations.apply(db)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
