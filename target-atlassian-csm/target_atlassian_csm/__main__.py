"""``python -m target_atlassian_csm``."""

from target_atlassian_csm.target import TargetAtlassianCSM

TargetAtlassianCSM.cli()
