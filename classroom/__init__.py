"""Teaching sessions: the class store (rooms, anonymous answers, reveals). No Streamlit import here.

``classroom.store`` is the database side; pages reach it through a ``ui`` helper, never directly.
"""
