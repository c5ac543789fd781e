// A Live Link source fed by the GoAssist render-bridge's native stream (one UDP datagram per
// face frame, decoded by the engine-free GoAssistWire.h). One receive thread per source:
// it decodes, drops stale epochs and reordered frames, pushes Basic-role subjects with the
// 61 ARKit curves (static data before a subject's first frame), eases silent subjects to
// neutral, and optionally feeds the arriving voice audio to Pixel Streaming 2.
#pragma once

#include "CoreMinimal.h"
#include "GoAssistWire.h"
#include "HAL/Runnable.h"
#include "ILiveLinkSource.h"
#include "LiveLinkTypes.h"

class FRunnableThread;
class FSocket;
class ILiveLinkClient;
class UGoAssistLiveLinkSourceSettings;
class IPixelStreaming2AudioProducer;

class GOASSISTLIVELINK_API FGoAssistLiveLinkSource : public ILiveLinkSource, public FRunnable
{
public:
	/** bInPortFromConnectionString: the port was given explicitly and wins over the settings' port. */
	FGoAssistLiveLinkSource(int32 InListenPort, const FString& InSubjectPattern, bool bInPortFromConnectionString);
	virtual ~FGoAssistLiveLinkSource() override;

	// ILiveLinkSource
	virtual void ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid) override;
	virtual void InitializeSettings(ULiveLinkSourceSettings* Settings) override;
	virtual bool IsSourceStillValid() const override;
	virtual bool RequestSourceShutdown() override;
	virtual FText GetSourceType() const override;
	virtual FText GetSourceMachineName() const override;
	virtual FText GetSourceStatus() const override;
	virtual TSubclassOf<ULiveLinkSourceSettings> GetSettingsClass() const override;

	// FRunnable
	virtual bool Init() override { return true; }
	virtual uint32 Run() override;
	virtual void Stop() override { bStopping = true; }
	virtual void Exit() override {}

private:
	struct FSubjectState
	{
		goassist::wire::StreamOrder Order;
		bool bStaticPushed = false;
		bool bFreezing = false;
		bool bQuiet = false;
		double LastFrameSeconds = 0.0;
		double FreezeStartSeconds = 0.0;
		uint64 LastSamplePos = 0;
		float Values[goassist::wire::kCurveCount] = {};
		float FreezeFrom[goassist::wire::kCurveCount] = {};
	};

	void StartIfReady();
	void HandleDatagram(const uint8* Data, int32 Size);
	void TickFreeze(double Now);
	FName SubjectName(uint32 AvatarId, uint64 SessionId) const;
	void PushStatic(const FName& Subject);
	void PushFrame(const FName& Subject, const float* Values, uint64 SamplePos);
	void PushAudio(const goassist::wire::BridgeDatagram& Datagram);

	int32 ListenPort;
	FString SubjectPattern;
	float StallSeconds = 0.25f;
	float SlowFreezeSeconds = 0.3f;
	bool bFeedPixelStreamingAudio = false;
	bool bPortFromConnectionString = false;
	bool bSettingsApplied = false;

	ILiveLinkClient* Client = nullptr;
	FGuid SourceGuid;
	FSocket* Socket = nullptr;
	FRunnableThread* Thread = nullptr;
	std::atomic<bool> bStopping{false};
	std::atomic<double> LastFrameSeconds{0.0};

	// Touched by the receive thread only.
	TMap<FName, FSubjectState> Subjects;
	TArray<uint8> ReceiveBuffer;
	TArray<float> AudioScratch;
	TSharedPtr<IPixelStreaming2AudioProducer> AudioProducer;
};
