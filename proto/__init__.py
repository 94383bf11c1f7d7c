"""Our own ``.proto`` contracts (the task query service) and the code generated
from them (:mod:`.generate` regenerates it)."""
