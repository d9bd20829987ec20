from .checkpoint import (TRUSTED_HINT, TRUSTED_PREFIX, CheckpointError, checkpoint_load_error,
                         load_checkpoint_file, state_dict_mismatches,
                         strip_trusted_prefix)

__all__ = ['CheckpointError', 'TRUSTED_HINT', 'TRUSTED_PREFIX', 'checkpoint_load_error',
           'load_checkpoint_file', 'state_dict_mismatches', 'strip_trusted_prefix']
