"""Who is in the swarm.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``registry``   the pure :class:`MembershipState`, the Ray registry actor, :class:`Member`,
               :class:`RayMembership` (a node's view through Ray)
``static``     :class:`MembershipView` (what the round needs), :class:`StaticMembership`
=============  ==============================================================================
"""
