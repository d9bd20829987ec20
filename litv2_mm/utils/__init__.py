from .checkpoint import (TRUSTED_HINT, TRUSTED_PREFIX, CheckpointError, CheckpointMismatchError,
                         check_checkpoint_file, check_state_dict_fits, checkpoint_load_error,
                         checkpoint_state_dict, load_checkpoint_file, mismatch_report,
                         state_dict_mismatches, strip_trusted_prefix)
from .random_states import get_rng_states, set_rng_states

__all__ = ['CheckpointError', 'CheckpointMismatchError', 'TRUSTED_HINT', 'TRUSTED_PREFIX',
           'check_checkpoint_file', 'check_state_dict_fits', 'checkpoint_load_error',
           'checkpoint_state_dict', 'get_rng_states', 'load_checkpoint_file', 'mismatch_report',
           'set_rng_states', 'state_dict_mismatches', 'strip_trusted_prefix']
