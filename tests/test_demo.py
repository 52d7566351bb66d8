from wishes import lifecycle


def counts(db):
    return {
        "wishes": db["wishes"].count,
        "events": db["wish_events"].count,
        "branches": db["branches"].count,
        "general_branches": db["general_branches"].count,
    }


def test_demo_loads_the_whole_organisation_and_wishes_in_every_state(runner, db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert counts(db)["branches"] == 10 and counts(db)["general_branches"] == 5
    states = {row["state"] for row in db.query("SELECT DISTINCT state FROM wishes")}
    assert states == {str(s) for s in lifecycle.State}
    assert 200 <= db["wishes"].count <= 500
    oldest, newest = db.execute("SELECT min(created_at), max(created_at) FROM wishes").fetchone()
    assert oldest[:10] < newest[:10]
    scopes = [row["scope"] for row in db.query("SELECT scope FROM branches")]
    assert all(scopes)


def test_demo_twice_adds_nothing_the_second_time(runner, db):
    runner.invoke(args=["demo"])
    before = counts(db)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert counts(db) == before


def test_demo_history_goes_through_the_state_machine(runner, db):
    runner.invoke(args=["demo"])
    fulfilled = next(db.query("SELECT * FROM wishes WHERE state = 'fulfilled' LIMIT 1"))
    actions = [e["action"] for e in lifecycle.history(db, fulfilled["id"])]
    assert actions[0] == "submit"
    assert "claim" in actions and actions[-1] == "fulfil"
    times = [e["at"] for e in lifecycle.history(db, fulfilled["id"])]
    assert times == sorted(times)
