"""The learned ranker: trained from FeedbackGiven events over a read model, saved, loaded, used by the service."""

from __future__ import annotations

import numpy as np
import pytest

from bootstrap import load_ranker
from matcher.learned import LearnedRanker, fit, train_from_feedback, training_set
from matcher.ranking import FEATURES, DefaultRanker
from matcher.service import MatchService
from matcher.view import ReadModel
from models.events import Feedback
from models.settings import Settings
from tests.factories import event, investor, project

CITIES = ["杭州", "宁波", "温州"]


@pytest.fixture
def world() -> tuple[ReadModel, list]:
    """Twelve investors and thirty projects in three cities; every investor funded projects of its own city."""
    rng = np.random.default_rng(0)
    view = ReadModel("none")
    for n in range(12):
        view.apply(event("InvestorVerified", f"i-{n}", investor(name=f"Fund {n}", cities=[CITIES[n % 3]],
                                                                  verification="verified")))
    for n in range(30):
        view.apply(event("ProjectSubmitted", f"p-{n}", project(name=f"Project {n}", city=CITIES[n % 3])))
    feedback = []
    for n in range(12):
        for p in rng.choice([p for p in range(30) if p % 3 == n % 3], size=3, replace=False):
            feedback.append(event("FeedbackGiven", f"i-{n}", Feedback(investor_id=f"i-{n}", project_id=f"p-{p}",
                                                                      action="invested")))
    feedback.append(event("FeedbackGiven", "i-0", Feedback(investor_id="i-0", project_id="p-1", action="passed",
                                                           reason="not our city")))
    return view, feedback


def test_training_pairs_come_from_feedback_and_the_services_candidates(world):
    view, feedback = world
    ts = training_set(feedback, view, sampled=5, progress=False)
    assert ts.x.shape == (len(ts.y), len(FEATURES))
    assert ts.counts["positives"] == int(ts.y.sum()) > 0 and ts.counts["explicit_negatives"] == 1
    assert (ts.y == 0).sum() > ts.y.sum()
    taken_back = event("FeedbackGiven", "i-0", Feedback(investor_id="i-0", project_id="p-1", action="unpassed"))
    assert training_set([*feedback, taken_back], view, sampled=5, progress=False).counts["explicit_negatives"] == 0


def test_a_ranker_learned_from_feedback_prefers_what_investors_funded(world, tmp_path):
    view, feedback = world
    ranker = train_from_feedback(feedback, view, sampled=5, progress=False)
    assert ranker.weights()["city"] > 0  # every investment in this world was in the investor's city
    path = tmp_path / "model.joblib"
    ranker.save(path)
    loaded = load_ranker(Settings(ranker_model_path=path))
    assert isinstance(loaded, LearnedRanker)
    x = np.random.default_rng(1).random((5, len(FEATURES))).astype(np.float32)
    scores, contrib = loaded.score(x)
    assert scores.shape == (5,) and contrib.shape == (5, len(FEATURES))
    assert np.allclose(scores, ranker.score(x)[0]) and ((scores >= 0) & (scores <= 1)).all()
    logit = np.log(scores / (1 - scores))
    assert np.allclose(contrib.sum(axis=1) + loaded.model.intercept_[0], logit, atol=1e-4)
    service = MatchService(view, ranker=loaded)
    feed = service.recommend_projects("i-4", k=5)
    assert feed and all(m.score >= 0 for m in feed)


def test_gradient_boosting_explains_by_feature_deltas(world):
    view, feedback = world
    ranker = fit(training_set(feedback, view, sampled=5, progress=False), kind="gbm")
    x = np.random.default_rng(2).random((4, len(FEATURES))).astype(np.float32)
    scores, contrib = ranker.score(x)
    assert contrib.shape == (4, len(FEATURES)) and np.isfinite(contrib).all()
    assert ranker.weights() is None


def test_a_model_for_other_features_is_refused(world, tmp_path):
    import joblib

    view, feedback = world
    ranker = train_from_feedback(feedback, view, sampled=5, progress=False)
    path = tmp_path / "old.joblib"
    ranker.save(path)
    state = joblib.load(path)
    joblib.dump({**state, "features": ["dense", "sparse"]}, path)
    with pytest.raises(ValueError, match="retrain it"):
        LearnedRanker.load(path)


def test_without_a_model_path_the_default_ranker_is_used_and_a_configured_unusable_one_stops_the_start(tmp_path):
    assert isinstance(load_ranker(Settings()), DefaultRanker)
    corrupt = tmp_path / "corrupt.joblib"
    corrupt.write_text("garbage")
    for path in (tmp_path / "missing.joblib", corrupt):  # silently serving default weights would hide the mistake
        with pytest.raises(ValueError, match=f"RANKER_MODEL_PATH={path} is not a usable ranker model"):
            load_ranker(Settings(ranker_model_path=path))
