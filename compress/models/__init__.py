"""Model I/O: loading and saving models (``io``), stored-file inspection (``files``), the
Keras 3 bridge (``keras3``, ``keras3_config``) and graph surgery on tf_keras models (``graph``).

``compress.models.load_model`` and friends are the public names (they live in ``io``).
"""

from compress.models.io import ModelSource, count_params, load_model, save_model  # noqa: F401
from compress.models.files import (code_risks, keras_file_version,  # noqa: F401
                                   stored_config)
