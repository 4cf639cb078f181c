"""What draws with Streamlit: URL-bound controls, Altair charts, cached runs, live curves.

Importing ``ui`` sets up the server process first (:func:`serve.setup_process`: one BLAS thread per
process, Arrow on the system allocator), before the pages import NumPy-heavy code.
"""

import serve

serve.setup_process()
