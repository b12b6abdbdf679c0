-- S10: the agent's transfers of a call, in order ("queue:complaint,agent:1002").
ALTER TABLE calls ADD COLUMN transferred_to text;
