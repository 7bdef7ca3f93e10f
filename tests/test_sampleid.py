"""Clip ids (dataset/subject/clip): one type builds and parses them everywhere."""
import pytest

from microexpr.sampleid import SampleId


def test_a_sample_id_round_trips_and_names_the_person():
    sid = SampleId.parse("casme2/sub01/EP02_01f")
    assert (sid.dataset, sid.subject, sid.clip) == ("casme2", "sub01", "EP02_01f")
    assert str(sid) == "casme2/sub01/EP02_01f" and sid.person == "casme2/sub01"
    assert SampleId.parse(sid) == sid and sorted([SampleId("samm", "006", "006_1_2"), sid])[0] == sid


@pytest.mark.parametrize("text", ["casme2/sub01", "casme2/sub01/EP01/extra", "casme2//EP01", ""])
def test_a_malformed_sample_id_is_refused_with_its_text(text):
    with pytest.raises(ValueError, match="dataset/subject/clip|non-empty name"):
        SampleId.parse(text)
    with pytest.raises(ValueError, match="subject must be a non-empty name without '/'"):
        SampleId("casme2", "a/b", "EP01")


def test_every_manifest_id_parses_back_to_its_own_columns(synth_factory):
    from microexpr.datasets import load_manifest

    table = load_manifest("casme2", synth_factory())
    assert len(table) > 0
    for row in table.itertuples():
        sid = SampleId.parse(row.sample_id)
        assert (sid.dataset, sid.subject, sid.clip) == (row.dataset, row.subject, row.clip)
