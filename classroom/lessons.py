"""The lesson registry: every page of the app, in sidebar order, with what each layer needs of it.

One entry per page feeds the sidebar and the lesson path ("Next →", ``ui.controls``), the home
page's map of failure modes (``streamlit_app.py``), the lesson plan and handouts (``pages/8_Teach.py``)
and the tests that iterate over pages. ``tests/classroom/test_lessons.py`` checks it against the
files in ``pages/`` and against ``classroom.questions.QUESTIONS``.

Pure data: no Streamlit import, so every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

HOME_PATH = "streamlit_app.py"


@dataclass(frozen=True)
class Lesson:
    """One page: its script, its sidebar title, its short link label, and its question."""

    #: the script, relative to the repository root (``pages/<N>_<Name>.py``)
    path: str
    #: its title in the sidebar, the plan and the handouts
    title: str
    #: the label of a link to it on the home map and the checklists (the title when short)
    short: str = ""
    #: id of its question in ``classroom.questions.QUESTIONS`` (None: Home and Teach ask none)
    question: str | None = None
    #: failure modes of the home map (:data:`FAILURES`) that this page shows and fixes
    fixes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.short or self.title

    @property
    def url(self) -> str:
        """Its URL path, as Streamlit derives it from the file name ("" is the home page)."""
        if self.path == HOME_PATH:
            return ""
        return PurePosixPath(self.path).stem.split("_", 1)[1]


#: The home map's failure modes: name -> (what you see, the fix). The pages that show each are the
#: lessons naming it in their ``fixes``.
FAILURES = {
    "Vanishing or exploding gradients": (
        "The first layers get gradients near 0 (or huge): they stop learning, or training blows up.",
        "ReLU with He init; skip connections. Batch norm cures *vanishing* gradients, but with ReLU it can "
        "make them *explode* as depth grows (Yang et al. 2019)",
    ),
    "Signal collapse at initialization": (
        "Activations shrink to 0 or blow up layer after layer before training even starts.",
        "He / Xavier initialization",
    ),
    "Slow, fragile training": (
        "Only tiny learning rates work, and each layer's inputs keep changing scale while the layers below learn.",
        "Batch normalization (why it helps is still debated: the page measures it)",
    ),
    "Overfitting": (
        "Training accuracy keeps rising while validation accuracy stalls or falls.",
        "Dropout, early stopping, weight decay",
    ),
    "Bad step sizes": (
        "Too big and the loss diverges, too small and nothing moves.",
        "Learning-rate schedules (warmup + cosine), Adam",
    ),
}

HOME = Lesson(HOME_PATH, "Home")
#: The lessons, in the order of the lesson path.
LESSONS = (
    Lesson(
        "pages/1_Vanishing_gradients.py",
        "Vanishing & exploding gradients",
        "Gradients",
        "gradients",
        ("Vanishing or exploding gradients",),
    ),
    Lesson("pages/2_Initialization.py", "Initialization", "", "init", ("Signal collapse at initialization",)),
    Lesson("pages/3_Batch_normalization.py", "Batch normalization", "", "batchnorm", ("Slow, fragile training",)),
    Lesson("pages/4_Dropout.py", "Dropout", "", "dropout", ("Overfitting",)),
    Lesson("pages/5_LR_schedules.py", "Learning-rate schedules", "LR schedules", "schedules", ("Bad step sizes",)),
    Lesson("pages/6_Early_stopping.py", "Early stopping", "", "early_stopping", ("Overfitting",)),
    Lesson(
        "pages/7_Full_recipe.py",
        "Full recipe",
        "",
        "recipe",
        ("Vanishing or exploding gradients", "Bad step sizes"),
    ),
)
TEACH = Lesson("pages/8_Teach.py", "Teach")
#: Every page in sidebar order: Home, the lessons, Teach.
SITE = (HOME, *LESSONS, TEACH)


def by_path(path: str) -> Lesson:
    """The page whose script is ``path`` (KeyError if none)."""
    for lesson in SITE:
        if lesson.path == path:
            return lesson
    raise KeyError(path)


def by_title(title: str) -> Lesson:
    """The page titled ``title`` (KeyError if none)."""
    for lesson in SITE:
        if lesson.title == title:
            return lesson
    raise KeyError(title)
