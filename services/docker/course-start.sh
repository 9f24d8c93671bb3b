#!/bin/sh
# Entry point of the course image: put the course into the learner's home, then run the
# command (JupyterLab by default; jupyterhub-singleuser when JupyterHub starts the image).
#
# The image's root file system may be read-only; the home directory is the one writable
# place (a volume: JupyterHub's per-user storage, or `docker run -v`). The exercise
# edition (exercises/, the learner's to write in) and the solved notebooks (notebooks/)
# are copied there on first start and never overwritten afterwards (a learner's edits
# stay); models/ is a link to the read-only trained models, so the notebooks' ../models
# paths work as in a checkout. Delete a notebook from the home directory to get it back
# fresh.
set -eu
home="${HOME:-/home/learner}"
for edition in exercises notebooks; do
  [ -d "/opt/course/$edition" ] || continue
  mkdir -p "$home/$edition"
  for notebook in "/opt/course/$edition"/*; do
    [ -e "$home/$edition/${notebook##*/}" ] || cp -R "$notebook" "$home/$edition/"
  done
done
[ -e "$home/models" ] || [ -L "$home/models" ] || ln -s /opt/course/models "$home/models"
exec "$@"
